/**
 * A vitest reporter that writes what went wrong in a run, and nothing else, to the file named by
 * `WAQ_TEST_DIGEST`: each failed test (file, name, the first lines of its error), each file that
 * failed to load, and each error raised outside a test (an unhandled rejection fails the run although
 * every test passed). `npm test` prints it in its summary, the last thing a CI log shows, so a red run
 * names its cause even when only the tail of the log is kept.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Reporter, TestModule } from 'vitest/node';

/** Lines of an error kept in the digest: the message and where it was thrown, not the whole stack. */
const ERROR_LINES = 6;

interface ErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly stack?: string;
}

function describeError(error: ErrorLike): string {
  const head = `${error.name ?? 'Error'}: ${error.message ?? String(error)}`;
  const frames = (error.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line) && !/node_modules|node:internal|<anonymous>/.test(line))
    .slice(0, 2);
  return [...head.split('\n').slice(0, ERROR_LINES), ...frames].map((line) => `      ${line.trimEnd()}`).join('\n');
}

export default class FailureDigestReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<ErrorLike>): void {
    const target = process.env['WAQ_TEST_DIGEST'];
    if (target === undefined || target === '') return;
    const lines: string[] = [];
    for (const testModule of testModules) {
      const file = path.relative(process.cwd(), testModule.moduleId);
      for (const error of testModule.errors()) lines.push(`  ✗ ${file} (the file failed to load or a hook failed)`, describeError(error));
      for (const test of testModule.children.allTests('failed')) {
        lines.push(`  ✗ ${file} > ${test.fullName}`);
        for (const error of test.result().errors ?? []) lines.push(describeError(error));
      }
    }
    for (const error of unhandledErrors) lines.push('  ✗ an error outside any test (unhandled)', describeError(error));
    fs.appendFileSync(target, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  }
}
