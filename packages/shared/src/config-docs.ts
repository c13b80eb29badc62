/**
 * `pnpm docs:config` — rewrites the README's configuration table from the config schema, so the two
 * cannot drift (a unit test fails when they do).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { renderConfigTable } from './config.js';

export const README_URL = new URL('../../../README.md', import.meta.url);
export const CONFIG_BLOCK = /(<!-- config:start -->)[\s\S]*?(<!-- config:end -->)/;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README_URL, 'utf8');
  if (!CONFIG_BLOCK.test(readme)) throw new Error('README.md has no <!-- config:start --> … <!-- config:end --> block');
  writeFileSync(README_URL, readme.replace(CONFIG_BLOCK, (_m, start: string, end: string) => `${start}\n${renderConfigTable()}\n${end}`));
  process.stdout.write('README.md configuration table updated\n');
}
