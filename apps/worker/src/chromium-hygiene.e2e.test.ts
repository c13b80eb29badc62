import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fs } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { SINGLETON_FILES, cleanProfile, findProfileProcesses, isAlive } from './chromium-hygiene.js';
import { silentLogger } from './testing/owner-harness.js';

const BROWSERS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].filter((candidate) => existsSync(candidate));
let root: string;
let profileDir: string;
const spawned: number[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'waq-hygiene-'));
  profileDir = path.join(root, 'session-default');
  await fs.mkdir(profileDir);
});

afterEach(async () => {
  for (const pid of spawned.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await rm(root, { recursive: true, force: true });
});

/** A Chromium left behind by a worker killed with -9: its own process group, holding the profile. */
function orphanChromium(executable: string): number {
  const child = spawn(
    executable,
    ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profileDir}`, '--remote-debugging-port=0', 'about:blank'],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  if (child.pid === undefined) throw new Error('Chromium did not start');
  spawned.push(child.pid);
  return child.pid;
}

describe('cleanProfile', () => {
  it('finds a Chromium installed (npm test installs chromium-headless-shell and chromium)', () => {
    expect(BROWSERS.length).toBeGreaterThan(0);
  });

  // Only full Chromium takes the profile's process-singleton locks; headless-shell holds the profile
  // without them (and an orphan of either makes the next client on the profile hang).
  it.each(BROWSERS)('kills an orphan %s holding the profile and removes its locks', async (executable) => {
    const pid = orphanChromium(executable);
    await vi.waitFor(async () => expect((await fs.readdir(profileDir)).includes('DevToolsActivePort')).toBe(true), { timeout: 20_000 });
    const takesLocks = (await fs.readdir(profileDir)).includes('SingletonLock');
    expect(takesLocks).toBe(executable.endsWith('/chromium'));
    expect(await findProfileProcesses(profileDir)).toContain(pid);

    const report = await cleanProfile(profileDir, silentLogger);
    expect(report.killed).toContain(pid);
    if (takesLocks) expect(report.removedLocks).toContain('SingletonLock');
    expect(isAlive(pid)).toBe(false);
    expect(await findProfileProcesses(profileDir)).toEqual([]);
    const left = await fs.readdir(profileDir);
    for (const name of SINGLETON_FILES) expect(left).not.toContain(name);
  });

  it.each([
    ['a lock from another host (an earlier container)', 'old-container-1234'],
    ['a lock of a dead process on this host', `${hostname()}-999999`],
    ['a lock whose pid now belongs to an unrelated process', `${hostname()}-${process.pid}`],
  ])('removes %s', async (_case, target) => {
    await fs.symlink(target, path.join(profileDir, 'SingletonLock'));
    await fs.symlink('/tmp/gone/SingletonSocket', path.join(profileDir, 'SingletonSocket'));
    const report = await cleanProfile(profileDir, silentLogger);
    expect(report.killed).toEqual([]);
    expect(report.removedLocks.sort()).toEqual(['SingletonLock', 'SingletonSocket']);
  });

  it('counts a zombie (exited, never reaped) as gone', async () => {
    // `sleep 30` replaces the shell and never waits for the shell's background child: once that child
    // exits it stays a zombie, as Chromium's children do under a PID 1 that does not reap.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(parent.stdout, 'data')) as [Buffer];
      const child = Number(line.toString().trim());
      await vi.waitFor(async () => expect((await fs.readFile(`/proc/${child}/stat`, 'utf8')).split(') ')[1]?.[0]).toBe('Z'), { timeout: 15_000 });
      expect(() => process.kill(child, 0)).not.toThrow();
      expect(isAlive(child)).toBe(false);
      expect(isAlive(parent.pid ?? -1)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('leaves a clean profile alone', async () => {
    expect(await cleanProfile(profileDir, silentLogger)).toEqual({ killed: [], removedLocks: [] });
  });
});
