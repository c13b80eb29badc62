/**
 * `npm run bench`: runs every case (or `--only=…`), prints progress to stderr and writes the report to
 * docs/benchmarks.md (a partial or smoke run to stdout, or to `--out=<file>`). `--help` lists the cases,
 * flags and sizes (bench/lib/options.ts).
 */
import { writeFile } from 'node:fs/promises';

import { runBench } from './bench.js';
import { parseOptions, usage } from './lib/options.js';

const options = parseOptions(process.argv.slice(2), process.env);
if (options.help) {
  process.stdout.write(usage());
  process.exit(0);
}
const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
const markdown = await runBench(options, log);
if (options.out !== undefined) {
  await writeFile(options.out, markdown);
  log(`wrote ${options.out}`);
} else {
  process.stdout.write(markdown);
}
