import { listen } from '@waq/test-utils';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { describe, expect, it, onTestFinished } from 'vitest';

import { recordHelmet, securityHeaders } from './security-headers.js';

/** The headers a bare route answers with behind `middleware`, without the ones that vary per response. */
async function headersBehind(middleware: RequestHandler): Promise<Record<string, string>> {
  const app = express();
  app.use(middleware);
  app.get('/', (_req, res) => void res.status(204).end());
  const server = await listen(app);
  onTestFinished(() => server.close());
  const response = await fetch(server.url);
  const headers = Object.fromEntries(response.headers);
  for (const varying of ['date', 'connection', 'keep-alive']) delete headers[varying];
  return headers;
}

describe('security headers', () => {
  it('answers with exactly the headers helmet sets, X-Powered-By removed', async () => {
    const options = { contentSecurityPolicy: false } as const;
    const expected = await headersBehind(helmet(options));
    expect(expected).toHaveProperty('strict-transport-security');
    expect(expected).not.toHaveProperty('x-powered-by');
    expect(await headersBehind(securityHeaders(options))).toEqual(expected);
  });

  it('follows helmet options', () => {
    expect(recordHelmet({ contentSecurityPolicy: false, xFrameOptions: { action: 'deny' } }).set.get('X-Frame-Options')).toBe('DENY');
    expect(recordHelmet({ contentSecurityPolicy: false, xFrameOptions: false }).set.has('X-Frame-Options')).toBe(false);
  });
});
