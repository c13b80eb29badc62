/** What the report says about where it ran: machine, load, versions. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';

const require = createRequire(import.meta.url);

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
}

export function machine(): Machine {
  const list = cpus();
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  return { cpuModel: list[0]?.model.trim() ?? 'unknown', cores: list.length, memoryGiB: totalmem() / 1024 ** 3, kernel };
}

/** The 1-minute load average now (other test runs on the machine show up here). */
export function load1(): number {
  return loadavg()[0] ?? 0;
}

/** Installed version of an npm package as resolved from the repository root. */
export function packageVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** `<binary> --version`, first line; Debian's chromium wrapper also writes shell noise to stderr, ignored. */
export function binaryVersion(binary: string): string {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 }).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'not found';
  }
}
