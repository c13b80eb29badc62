import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { configReference, loadConfig } from './config.js';
import { ENV_EXAMPLE_URL, renderEnvExample } from './env-example.js';

describe('.env.example', () => {
  it('is what the config schema generates (run `pnpm docs:env` to update it)', () => {
    let file: string | undefined;
    try {
      file = readFileSync(ENV_EXAMPLE_URL, 'utf8');
    } catch {
      file = undefined;
    }
    expect(file, '.env.example is missing: run `pnpm docs:env`').toBeDefined();
    expect(file, '.env.example drifted from packages/shared/src/config.ts: run `pnpm docs:env`').toBe(renderEnvExample());
  });

  it('lists every variable once, commented out, with its default', () => {
    const text = renderEnvExample();
    for (const row of configReference()) {
      const lines = text.split('\n').filter((line) => line.startsWith(`# ${row.name}=`));
      expect(lines, row.name).toEqual([`# ${row.name}=${row.default ?? ''}`]);
    }
    expect(text.split('\n').filter((line) => line !== '' && !line.startsWith('#'))).toEqual([]);
  });

  it('parses to the defaults when every line is uncommented', () => {
    // What a user gets after `sed 's/^# \([A-Z_]*=\)/\1/' .env.example > .env`: the documented
    // defaults must be valid values (an empty `CHROMIUM_PATH=` or `API_KEY=` means "unset").
    const env: Record<string, string> = {};
    for (const line of renderEnvExample().split('\n')) {
      const match = /^# ([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (match) env[match[1] as string] = match[2] as string;
    }
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });
});
