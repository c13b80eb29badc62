import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { resolveApiKey } from './api-key.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'waq-api-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveApiKey', () => {
  it('uses API_KEY when configured and writes nothing', async () => {
    expect(await resolveApiKey('configured-key-0123456789', dir)).toEqual({ key: 'configured-key-0123456789', source: 'env' });
    await expect(stat(path.join(dir, 'api-key'))).rejects.toThrow(/ENOENT/);
  });

  it('generates a key on first start, stores it private, and reuses it afterwards', async () => {
    const dataDir = path.join(dir, 'nested', 'data');
    const first = await resolveApiKey(undefined, dataDir);
    expect(first.source).toBe('generated');
    expect(first.key).toMatch(/^waq_[\w-]{32}$/);
    expect(first.key.length).toBeGreaterThanOrEqual(32);
    const file = path.join(dataDir, 'api-key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(first.key);
    expect(await resolveApiKey(undefined, dataDir)).toEqual({ key: first.key, source: 'file', file });
  });

  it('agrees on one key when two processes start at once', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => resolveApiKey(undefined, dir)));
    expect(new Set(keys.map((k) => k.key)).size).toBe(1);
  });

  it('refuses a key file that holds no usable key, saying what to do', async () => {
    // 31 characters: a key stored by hand (or by an older waq) is held to the same rule as API_KEY.
    await writeFile(path.join(dir, 'api-key'), `${'k'.repeat(31)}\n`);
    await expect(resolveApiKey(undefined, dir)).rejects.toThrow(/holds no usable API key \(shorter than 32 characters\): delete the file to have a new key generated, or set API_KEY/);
    await writeFile(path.join(dir, 'api-key'), `${'k'.repeat(32)}\n`);
    await expect(resolveApiKey(undefined, dir)).resolves.toMatchObject({ key: 'k'.repeat(32), source: 'file' });
  });
});
