/** The API process refuses to start on a weak key: one clear message, no stack trace, exit 78. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { EXIT_CONFIG } from '@waq/shared';
import { killSpawned, spawnTs, testRedisUrl } from '@waq/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'waq-api-main-'));
});
afterEach(killSpawned);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function startApi(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = spawnTs('api', 'apps/api/src/main.ts', [], { env: { REDIS_URL: testRedisUrl(), API_HOST: '127.0.0.1', API_PORT: '1', DATA_DIR: dataDir, ...env } });
  const { code } = await proc.exited;
  return { code, output: proc.lines.join('\n') };
}

describe('API start', () => {
  it('refuses an API_KEY shorter than 32 characters, without echoing it', async () => {
    const key = 'k'.repeat(31);
    const { code, output } = await startApi({ API_KEY: key });
    expect(code).toBe(EXIT_CONFIG);
    expect(output).toContain('waq api: invalid configuration:\n  - API_KEY must be at least 32 characters long: use a random one, e.g. `openssl rand -base64 32`');
    expect(output).not.toContain(key);
    expect(output).not.toMatch(/^\s+at /m);
  }, 60_000);

  it('refuses a stored key shorter than 32 characters, naming the file', async () => {
    const file = path.join(dataDir, 'api-key');
    await writeFile(file, `${'s'.repeat(20)}\n`);
    const { code, output } = await startApi({});
    expect(code).toBe(EXIT_CONFIG);
    expect(output).toContain(`waq api: invalid configuration:\n  - ${file} holds no usable API key (shorter than 32 characters): delete the file to have a new key generated, or set API_KEY`);
    expect(output).not.toMatch(/^\s+at /m);
  }, 60_000);
});
