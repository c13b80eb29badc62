import { promises as fs } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SessionProfile, type ProfileFs } from './profile.js';
import { silentLogger } from './testing/owner-harness.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'waq-profile-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: resource busy or locked`), { code });
}

/** The real file system, with `rm` failing with `code` the first `times` calls. */
function flakyFs(code: string, times: number): ProfileFs & { rmCalls: number } {
  const wrapped = {
    rmCalls: 0,
    rm: async (target: string, options: { recursive: true; force: true }) => {
      wrapped.rmCalls += 1;
      if (wrapped.rmCalls <= times) throw errno(code);
      await fs.rm(target, options);
    },
    rename: fs.rename,
    readdir: (target: string) => fs.readdir(target),
    writeFile: (target: string, data: string) => fs.writeFile(target, data),
    access: (target: string) => fs.access(target),
    mkdir: (target: string, options: { recursive: true }) => fs.mkdir(target, options),
  };
  return wrapped;
}

async function savedProfile(fileSystem?: ProfileFs): Promise<SessionProfile> {
  const profile = new SessionProfile(root, 'default', silentLogger, fileSystem);
  await profile.markSaved();
  await fs.writeFile(path.join(profile.dir, 'Cookies'), 'x');
  return profile;
}

describe('SessionProfile', () => {
  it('knows a saved session only by its marker, not by the directory LocalAuth creates up front', async () => {
    const profile = new SessionProfile(root, 'default', silentLogger);
    expect(profile.dir).toBe(path.join(root, 'session-default'));
    await fs.mkdir(profile.dir, { recursive: true });
    expect(await profile.hasSavedSession()).toBe(false);
    await profile.markSaved();
    expect(await profile.hasSavedSession()).toBe(true);
  });

  it.each(['EBUSY', 'EPERM'])('retries removal on %s until it succeeds', async (code) => {
    const flaky = flakyFs(code, 3);
    const profile = await savedProfile(flaky);
    expect(await profile.remove({ delayMs: 1 })).toBe('removed');
    expect(flaky.rmCalls).toBe(4);
    expect(await profile.hasSavedSession()).toBe(false);
  });

  it('renames the profile aside when it stays busy, and sweeps it on a later start', async () => {
    const flaky = flakyFs('EBUSY', 5);
    const profile = await savedProfile(flaky);
    expect(await profile.remove({ attempts: 5, delayMs: 1 })).toBe('renamed');
    expect(await profile.hasSavedSession()).toBe(false);
    const aside = (await fs.readdir(root)).filter((entry) => entry.startsWith('session-default.trash-'));
    expect(aside).toHaveLength(1);
    await profile.sweepTrash();
    expect(await fs.readdir(root)).toEqual([]);
  });

  it('does not retry errors that retrying cannot fix', async () => {
    const flaky = flakyFs('EIO', 1);
    const profile = await savedProfile(flaky);
    await expect(profile.remove({ delayMs: 1 })).rejects.toThrow(/EIO/);
    expect(flaky.rmCalls).toBe(1);
  });
});
