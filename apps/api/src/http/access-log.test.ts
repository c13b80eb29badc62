import { Writable } from 'node:stream';

import { createLogger } from '@waq/shared';
import { listen } from '@waq/test-utils';
import express from 'express';
import { describe, expect, it, onTestFinished, vi } from 'vitest';

import { accessLog } from './access-log.js';

interface Line {
  readonly level: number;
  readonly msg: string;
  readonly reqId?: string;
  readonly path?: string;
  readonly status?: number;
  readonly ms?: number;
}

async function serve(): Promise<{ url: string; lines: Line[] }> {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Line);
      callback();
    },
  });
  const logger = createLogger({ service: 'test', version: '0', level: 'info', format: 'json', destination });
  const app = express();
  app.use(accessLog(logger));
  app.get('/healthz', (_req, res) => void res.send('ok'));
  app.get('/v1/things', (_req, res) => void res.status(202).json({}));
  app.get('/v1/boom', (req, res) => {
    req.log.error('handler failed');
    res.status(500).json({});
  });
  app.use((_req, res) => void res.status(404).json({}));
  const server = await listen(app);
  onTestFinished(() => server.close());
  return { url: server.url, lines };
}

describe('access log', () => {
  it('logs one line per request with id, method, path without the query, status and time', async () => {
    const { url, lines } = await serve();
    const response = await fetch(`${url}/v1/things?to=%2B4915123456789`, { headers: { 'X-Request-Id': 'trace-1' } });
    expect(response.headers.get('x-request-id')).toBe('trace-1');
    await vi.waitFor(() => expect(lines).toHaveLength(1), { timeout: 15_000 });
    expect(lines[0]).toMatchObject({ level: 30, reqId: 'trace-1', path: '/v1/things', status: 202, msg: expect.stringMatching(/^GET \/v1\/things 202 \d+ms$/) });
    expect(JSON.stringify(lines)).not.toContain('4915123456789');
  });

  it('replaces a request id that is not a plain token, logs 4xx at warn and 5xx at error, and binds req.log to the id', async () => {
    const { url, lines } = await serve();
    const odd = await fetch(`${url}/nowhere`, { headers: { 'X-Request-Id': 'a b\tc' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const boom = await fetch(`${url}/v1/boom`);
    const id = boom.headers.get('x-request-id');
    await vi.waitFor(() => expect(lines).toHaveLength(3), { timeout: 15_000 });
    expect(lines.map((l) => [l.level, l.status])).toEqual([[40, 404], [50, undefined], [50, 500]]);
    expect(lines[1]).toMatchObject({ reqId: id, msg: 'handler failed' });
  });

  it('does not log the health probes, but gives them a request id', async () => {
    const { url, lines } = await serve();
    const probe = await fetch(`${url}/healthz`);
    expect(probe.headers.get('x-request-id')).not.toBeNull();
    await fetch(`${url}/v1/things`);
    await vi.waitFor(() => expect(lines).toHaveLength(1), { timeout: 15_000 });
    expect(lines[0]?.path).toBe('/v1/things');
  });
});
