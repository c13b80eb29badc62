/**
 * The production build — the `tsc -b` the Dockerfile runs (and the README's <!-- docker:start --> block,
 * which deploy-files.test.ts keeps equal) — must compile no test code into the dist/ it ships: no
 * `*.test.ts`, nothing under a `testing/` folder, no module that exists only for tests (the worker's
 * fake driver), nothing that imports vitest or @waq/test-utils. It builds each package's
 * `tsconfig.build.json`; the package `tsconfig.json` files keep compiling the tests for the root
 * `tsc -b` (type-checking), into `.typecheck/`: dist/ holds the production build alone.
 *
 * The file lists come from `tsc --listFilesOnly` of every project the build reaches: what a program
 * contains is what it emits, and a production file that imports a test module pulls it in whatever the
 * `exclude` says.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { PRODUCTION_BUILD } from '@waq/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Test-only modules that neither sit in `testing/` nor import vitest (the contract battery does). */
const TEST_ONLY = new Set(['apps/worker/src/driver/fake-driver.ts']);
/** `from 'vitest'`, `from '@waq/test-utils'` (or a subpath), or a dynamic `import()` of either. */
const IMPORTS_TEST_PACKAGE = /(?:\bfrom\s+|\bimport\(\s*)'(?:vitest|@waq\/test-utils)(?:\/[^']*)?'/;

interface TsConfig {
  readonly extends?: string;
  readonly compilerOptions?: { readonly outDir?: string; readonly tsBuildInfoFile?: string };
  readonly references?: readonly { readonly path: string }[];
}
const parseTsconfig = (text: string): TsConfig => JSON.parse(text) as TsConfig;

/** The projects the Dockerfile's `pnpm exec tsc -b …` names, as tsconfig paths (a directory means its tsconfig.json, as for tsc). */
function buildRoots(): string[] {
  const command = /^RUN pnpm exec tsc -b (.+)$/m.exec(read('Dockerfile'))?.[1];
  if (command === undefined) throw new Error('the Dockerfile has no `RUN pnpm exec tsc -b …`');
  return command.split(/\s+/).filter((arg) => !arg.startsWith('-'));
}

const asTsconfig = (project: string): string => {
  const normalized = path.posix.normalize(project);
  return normalized.endsWith('.json') ? normalized : path.posix.join(normalized, 'tsconfig.json');
};

/** Every tsconfig `tsc -b` builds for those roots: the roots and, transitively, their references. */
function buildProjects(): string[] {
  const pending = buildRoots().map(asTsconfig);
  const seen = new Set<string>();
  while (pending.length > 0) {
    const tsconfig = pending.pop() as string;
    if (seen.has(tsconfig)) continue;
    seen.add(tsconfig);
    const config = parseTsconfig(read(tsconfig));
    for (const reference of config.references ?? []) pending.push(asTsconfig(path.posix.join(path.posix.dirname(tsconfig), reference.path)));
  }
  return [...seen].sort();
}

/** Why a file of the production program is test code, or undefined when it is not. */
function testReason(file: string): string | undefined {
  if (file.includes('/node_modules/')) return /\/node_modules\/@?vitest\//.test(file) ? 'vitest types: something imports vitest' : undefined;
  const relative = path.relative(ROOT, file).split(path.sep).join('/');
  if (relative.startsWith('..')) return undefined; // outside the repository (none expected)
  if (/\.test\.ts$/.test(relative)) return 'a test file';
  if (/(?:^|\/)testing\//.test(relative)) return 'a testing/ harness';
  if (relative.startsWith('packages/test-utils/')) return '@waq/test-utils (test helpers)';
  if (TEST_ONLY.has(relative)) return 'a test-only module';
  if (/\.[cm]?ts$/.test(relative) && !relative.endsWith('.d.ts') && IMPORTS_TEST_PACKAGE.test(readFileSync(file, 'utf8'))) return 'imports vitest or @waq/test-utils';
  return undefined;
}

describe('production build (tsconfig.build.json)', () => {
  const projects = buildProjects();
  const listed = new Map<string, string[]>();
  beforeAll(async () => {
    // tsc parses every program's imports (puppeteer's and whatsapp-web.js's types too): a few seconds
    // each, run in parallel; generous because CI is a loaded 2-core machine.
    await Promise.all(
      projects.map(async (project) => {
        const { stdout } = await execFileAsync(process.execPath, [TSC, '-p', path.join(ROOT, project), '--listFilesOnly'], { cwd: ROOT, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
        listed.set(project, stdout.split('\n').map((line) => line.trim()).filter((line) => line !== ''));
      }),
    );
  }, 120_000);

  it('builds only build configs, never a tsconfig.json that compiles tests, nor @waq/test-utils', () => {
    expect(projects).toEqual(expect.arrayContaining(['apps/api/tsconfig.build.json', 'apps/worker/tsconfig.build.json', 'packages/shared/tsconfig.build.json']));
    for (const project of projects) {
      expect(project, `${project}: the production build must reach only tsconfig.build.json files`).toMatch(/\/tsconfig\.build\.json$/);
      expect(project.startsWith('packages/test-utils/'), `${project}: the production build must not build @waq/test-utils`).toBe(false);
    }
  });

  it('compiles no test file, testing/ harness, test-only module or vitest import', () => {
    const offenders: string[] = [];
    for (const [project, files] of listed) {
      const reasons = new Map<string, string>();
      for (const file of files) {
        const reason = testReason(file);
        // vitest brings dozens of declaration files: one line for them.
        if (reason !== undefined) reasons.set(file.includes('/node_modules/') ? 'node_modules/vitest' : path.relative(ROOT, file), reason);
      }
      for (const [file, reason] of reasons) offenders.push(`${project}: ${file} (${reason})`);
    }
    // Not vacuous: the apps' entry points are in the lists.
    const all = [...listed.values()].flat().map((file) => path.relative(ROOT, file).split(path.sep).join('/'));
    expect(all).toEqual(expect.arrayContaining(['apps/api/src/main.ts', 'apps/worker/src/main.ts']));
    expect(offenders, 'exclude it in the package tsconfig.build.json, or move what a production module imports out of the test module').toEqual([]);
  });

  it('is one build: the Dockerfile\'s, `npm run build` and the one the e2e layer runs name the same projects', () => {
    const build = (JSON.parse(read('package.json')) as { scripts?: Record<string, string> }).scripts?.['build'];
    expect(build).toBe(`tsc -b ${buildRoots().join(' ')}`);
    expect([...PRODUCTION_BUILD]).toEqual(buildRoots());
  });

  it('owns dist/: type-checking (the package tsconfig.json, tests included) writes elsewhere', () => {
    for (const project of projects) {
      const dir = path.posix.dirname(project);
      const build = parseTsconfig(read(project)).compilerOptions ?? {};
      const dev = parseTsconfig(read(path.posix.join(dir, 'tsconfig.json'))).compilerOptions ?? {};
      expect(build, `${project} emits to dist/`).toMatchObject({ outDir: 'dist', tsBuildInfoFile: 'dist/.tsbuildinfo' });
      expect(dev.outDir, `${dir}/tsconfig.json compiles the tests: its output must not land in dist/`).not.toMatch(/^(?:\.\/)?dist(?:\/|$)/);
      expect(dev.tsBuildInfoFile).not.toMatch(/^(?:\.\/)?dist(?:\/|$)/);
    }
  });
});
