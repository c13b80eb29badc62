import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { killProcessGroup, processGroupAlive, resolveChromium, waitForProcessGroupExit } from './chromium.js';

describe('resolveChromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'waq-chromium-'));
  const executable = (name: string): string => {
    const file = join(dir, name);
    writeFileSync(file, '#!/bin/sh\n');
    chmodSync(file, 0o755);
    return file;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the first installed candidate; the headless shell runs as headless "shell", others as true', () => {
    const shell = executable('chromium-headless-shell');
    const full = executable('chromium');
    expect(resolveChromium(undefined, [join(dir, 'missing'), shell, full])).toEqual({ executablePath: shell, headless: 'shell' });
    expect(resolveChromium(undefined, [full, shell])).toEqual({ executablePath: full, headless: true });
  });

  it('uses CHROMIUM_PATH alone when set, and names it when it is wrong', () => {
    const full = executable('chrome');
    expect(resolveChromium(full, [])).toEqual({ executablePath: full, headless: true });
    expect(() => resolveChromium(join(dir, 'nope'))).toThrow(/CHROMIUM_PATH/);
  });

  it('says how to install one when none is found', () => {
    expect(() => resolveChromium(undefined, [join(dir, 'a'), join(dir, 'b')])).toThrow(/apt-get install chromium-headless-shell/);
  });
});

describe('processGroupAlive / killProcessGroup / waitForProcessGroupExit', () => {
  it('sees a detached process group until it is killed and reaped', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const exited = once(child, 'exit');
    try {
      expect(processGroupAlive(child.pid!)).toBe(true);
      killProcessGroup(child.pid!);
      await exited;
      expect(await waitForProcessGroupExit(child.pid!, 1_000)).toBe(true);
      expect(processGroupAlive(child.pid!)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
