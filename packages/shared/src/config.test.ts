import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { CONFIG_BLOCK, README_URL } from './config-docs.js';
import { configReference, configSchema, loadConfig, renderConfigTable } from './config.js';
import { ConfigError } from './errors.js';

describe('loadConfig', () => {
  it('gives every variable its documented default', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      WAQ_PREFIX: 'waq',
      SESSION_ID: 'default',
      SESSION_DIR: './.wwebjs_auth',
      API_PORT: 3000,
      WORKER_PORT: 3001,
      QR_WAIT_MS: 20_000,
      WAQ_SANDBOX: false,
    });
    expect(config.API_KEY).toBeUndefined();
    expect(config.CHROMIUM_PATH).toBeUndefined();
  });

  it('coerces numbers and booleans and ignores unrelated variables', () => {
    const config = loadConfig({ API_PORT: '8080', WAQ_SANDBOX: 'yes', PATH: '/usr/bin', CHROMIUM_PATH: '' });
    expect(config.API_PORT).toBe(8080);
    expect(config.WAQ_SANDBOX).toBe(true);
    expect(config.CHROMIUM_PATH).toBeUndefined();
    expect(config).not.toHaveProperty('PATH');
  });

  it('treats an empty value as unset: the default applies, not a coerced 0', () => {
    const config = loadConfig({ SEND_INTERVAL_MS: '', SEND_JITTER_MS: '  ', LEASE_TTL_MS: '' });
    const defaults = loadConfig({});
    expect(config.SEND_INTERVAL_MS).toBe(defaults.SEND_INTERVAL_MS);
    expect(config.SEND_INTERVAL_MS).toBeGreaterThan(0);
    expect(config.SEND_JITTER_MS).toBe(defaults.SEND_JITTER_MS);
    expect(config.LEASE_TTL_MS).toBe(defaults.LEASE_TTL_MS);
  });

  it('names every bad variable, what is wrong and what it got', () => {
    let error: unknown;
    try {
      loadConfig({ REDIS_URL: 'localhost:6379', API_PORT: '99999', WAQ_SANDBOX: 'maybe', SESSION_ID: 'a/b' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.problems.map((p) => p.variable).sort()).toEqual(['API_PORT', 'REDIS_URL', 'SESSION_ID', 'WAQ_SANDBOX']);
    expect(configError.message).toMatch(/REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL.*\(got "localhost:6379"\)/);
    expect(configError.message).toMatch(/README/);
  });

  it('refuses an API key shorter than 32 characters, saying how to make one', () => {
    expect(() => loadConfig({ API_KEY: 'k'.repeat(31) })).toThrow(/API_KEY must be at least 32 characters long: use a random one, e\.g\. `openssl rand -base64 32`, or unset it to have one generated \(got a value\)/);
    expect(loadConfig({ API_KEY: 'k'.repeat(32) }).API_KEY).toBe('k'.repeat(32));
  });

  it('never echoes the API key in its error', () => {
    expect(() => loadConfig({ API_KEY: 'short-secret' })).toThrow(/API_KEY must be at least 32 characters long.*\(got a value\)/);
    expect(() => loadConfig({ API_KEY: 'short-secret' })).not.toThrow(/short-secret/);
  });
});

describe('configReference', () => {
  it('documents every variable of the schema', () => {
    const rows = configReference();
    expect(rows.map((r) => r.name)).toEqual(Object.keys(configSchema.shape));
    for (const row of rows) expect(row.description.length).toBeGreaterThan(10);
  });

  it('matches the README configuration table (run `pnpm docs:config` to update it)', () => {
    const readme = readFileSync(README_URL, 'utf8');
    const block = CONFIG_BLOCK.exec(readme);
    expect(block, 'README.md has no <!-- config:start --> block').not.toBeNull();
    expect(block?.[0]).toBe(`<!-- config:start -->\n${renderConfigTable()}\n<!-- config:end -->`);
  });
});

describe('the configured webhook', () => {
  it('takes WEBHOOK_URL with WEBHOOK_SECRET, events as a list (default all but session.qr), and never echoes the secret', () => {
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const config = loadConfig({ WEBHOOK_URL: 'https://hooks.example/waq', WEBHOOK_SECRET: secret, WEBHOOK_EVENTS: 'message.incoming, session.qr' });
    expect(config).toMatchObject({ WEBHOOK_URL: 'https://hooks.example/waq', WEBHOOK_EVENTS: ['message.incoming', 'session.qr'] });
    expect(loadConfig({}).WEBHOOK_EVENTS).toEqual(['message.incoming', 'message.sent', 'message.ack', 'message.failed', 'message.cancelled', 'session.status']);
    expect(() => loadConfig({ WEBHOOK_URL: 'https://hooks.example/waq' })).toThrow(/WEBHOOK_SECRET must be set with WEBHOOK_URL/);
    expect(() => loadConfig({ WEBHOOK_EVENTS: 'message.deleted' })).toThrow(/WEBHOOK_EVENTS/);
    let error: unknown;
    try {
      loadConfig({ WEBHOOK_URL: 'https://hooks.example/waq', WEBHOOK_SECRET: 'whsec_hunter2' });
    } catch (caught) {
      error = caught;
    }
    expect(String((error as Error).message)).toMatch(/WEBHOOK_SECRET must be "whsec_".*\(got a value\)/);
    expect(String((error as Error).message)).not.toContain('hunter2');
  });
});
