/**
 * `promtool check metrics` on a Prometheus text exposition, for the tests that keep both apps' /metrics
 * lint-clean. promtool comes from Debian's `prometheus` package, which `npm test` installs when run as
 * root (scripts/lib/promtool.mjs). Without it the test fails, in CI and elsewhere (a lint that quietly
 * does not run is worse than none), with a message that says how to install it.
 */
import { spawn } from 'node:child_process';

export interface PromtoolResult {
  /** promtool 2.x: 0 clean, 1 unparsable input, 3 lint problems. */
  readonly code: number;
  /** What promtool printed (problems go to stderr, one a line): empty when clean. */
  readonly output: string;
}

const PROMTOOL_MISSING =
  'promtool is not installed, so the /metrics output cannot be linted. Install it: ' +
  '`sudo apt-get install --no-install-recommends prometheus` (the Debian package that ships promtool; ' +
  '`npm test` does this when run as root), or put a promtool binary from a Prometheus release on PATH.';

/** Pipes `text` to `promtool check metrics`; rejects when promtool is missing or takes longer than `timeoutMs`. */
export function promtoolCheckMetrics(text: string, timeoutMs = 15_000): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(PROMTOOL_MISSING) : error));
    // promtool may exit before reading everything (unparsable input): that EPIPE is its verdict, not ours.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      if (code === null) reject(new Error(`promtool check metrics was killed (${signal ?? 'no signal'}) after ${timeoutMs} ms or by someone else:\n${output}`));
      else resolve({ code, output });
    });
    child.stdin.end(text);
  });
}
