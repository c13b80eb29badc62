/**
 * The production build (each app's `tsconfig.build.json`, what the Dockerfile and `npm run build` run),
 * made current for tests that spawn `apps/<app>/dist/main.js`. Incremental: a no-op when up to date.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { REPO_ROOT } from './processes.js';

const execFileAsync = promisify(execFile);

export const PRODUCTION_BUILD = ['apps/api/tsconfig.build.json', 'apps/worker/tsconfig.build.json'] as const;

export async function buildForProduction(): Promise<void> {
  const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
  try {
    await execFileAsync(process.execPath, [tsc, '-b', ...PRODUCTION_BUILD.map((project) => path.join(REPO_ROOT, project))], { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`the production build (tsc -b ${PRODUCTION_BUILD.join(' ')}) failed, so the E2E layer cannot run the built apps:\n${stdout}${stderr}`);
  }
}
