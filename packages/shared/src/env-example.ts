/**
 * `.env.example`, generated from the config schema (`configReference()`), so it lists every variable
 * with its default and meaning and cannot drift: `env-example.test.ts` fails when the file differs
 * from `renderEnvExample()`. Run as a script to rewrite it:
 *
 *   node --conditions=waq-source --import tsx packages/shared/src/env-example.ts
 *
 * Every assignment is commented out: copying the file to `.env` changes nothing until a line is
 * uncommented, so the defaults stay in one place (config.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { configReference } from './config.js';

export const ENV_EXAMPLE_URL = new URL('../../../.env.example', import.meta.url);

const HEADER = [
  '# waq configuration: every variable, its default and its meaning. All are optional.',
  '# Generated from packages/shared/src/config.ts by packages/shared/src/env-example.ts: do not edit by hand.',
  '#',
  '# docker compose: copy this file to `.env` next to docker-compose.yml and uncomment what you change.',
  '# There, API_PORT is the host port the API is published on; REDIS_URL, SESSION_DIR, WWEBJS_CACHE_DIR,',
  '# DATA_DIR, API_HOST, WORKER_HOST and WORKER_PORT are fixed by docker-compose.yml (container paths and',
  '# ports), and CHROMIUM_PATH, WAQ_SANDBOX and WAQ_SIM_URL are not passed (the image brings its Chromium;',
  '# compose runs no simulator phone server, so sandbox mode is `npm start` only).',
  '# npm start does not read .env: export the variables in your shell instead (e.g. `set -a; . ./.env; set +a`).',
];

/** One width for the description lines, so a long meaning wraps instead of running off the screen. */
const WIDTH = 100;

export function renderEnvExample(): string {
  const blocks = configReference().map((row) => {
    const meaning = wrap(row.description, WIDTH - 2).map((line) => `# ${line}`);
    return [...meaning, `# ${row.name}=${row.default ?? ''}`].join('\n');
  });
  return `${[HEADER.join('\n'), ...blocks].join('\n\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const next = renderEnvExample();
  let current: string | undefined;
  try {
    current = readFileSync(ENV_EXAMPLE_URL, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === next) {
    process.stdout.write('.env.example is up to date\n');
  } else {
    writeFileSync(ENV_EXAMPLE_URL, next);
    process.stdout.write('.env.example updated\n');
  }
}
