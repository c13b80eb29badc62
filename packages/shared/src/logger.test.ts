import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger, redactFields, scrubPhoneNumbers } from './logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const text = () => chunks.join('');
  return { stream, text, lines: () => text().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes JSON with service and version when not on a terminal', () => {
    const out = capture();
    createLogger({ service: 'api', version: '1.2.3', destination: out.stream }).info({ jobId: 'j1' }, 'hello');
    expect(out.lines()[0]).toMatchObject({ service: 'api', version: '1.2.3', jobId: 'j1', msg: 'hello', level: 30 });
  });

  it('masks phone numbers and redacts bodies, QR values, keys and auth headers', () => {
    const out = capture();
    const logger = createLogger({ service: 'worker', version: '0', destination: out.stream });
    logger.info({ to: '4915123456789@c.us', text: 'my PIN is 4711', qr: '2@secretqr', apiKey: 'k3y-k3y-k3y-k3y-k3y' }, 'sending');
    logger.info({ job: { data: { to: '+4915123456789', body: 'hello' } } }, 'nested');
    logger.info({ req: { headers: { authorization: 'Bearer k3y', 'x-api-key': 'k3y' } } }, 'request');
    logger.warn({ err: new Error('Evaluation failed: 4915123456789@c.us is not a user; call +49 151 23456789') }, 'library error');
    const text = out.text();
    for (const secret of ['4915123456789', 'my PIN', '2@secretqr', 'k3y', 'hello', '+49 151 23456789']) expect(text).not.toContain(secret);
    const [first, nested] = out.lines();
    expect(first).toMatchObject({ to: '49*********89@c.us', text: '[redacted]', qr: '[redacted]', apiKey: '[redacted]' });
    expect(nested).toMatchObject({ job: { data: { to: '+49*********89', body: '[redacted]' } } });
    expect(text).toContain('49*********89@c.us is not a user');
  });

  it('redacts child bindings and arrays too, and never changes the object it was given', () => {
    const out = capture();
    const logger = createLogger({ service: 'worker', version: '0', destination: out.stream });
    const given = { recipients: [{ to: '+4915123456789' }], meta: { note: 'kept' } };
    logger.child({ chatId: '4915123456789@c.us', token: 't0k3n-t0k3n' }).child({ body: 'b0dy-b0dy' }).info(given, 'batch');
    expect(given.recipients[0]?.to).toBe('+4915123456789');
    const [line] = out.lines();
    expect(line).toMatchObject({ chatId: '49*********89@c.us', token: '[redacted]', body: '[redacted]', recipients: [{ to: '+49*********89' }], meta: { note: 'kept' } });
    expect(out.text()).not.toMatch(/t0k3n|b0dy/);
  });

  it('is silent at level silent', () => {
    const out = capture();
    createLogger({ service: 'api', version: '0', level: 'silent', destination: out.stream }).error('nope');
    expect(out.text()).toBe('');
  });
});

describe('redactFields', () => {
  it('returns the same object when there is nothing to redact, and leaves errors to their serializer', () => {
    const plain = { jobId: 'j1', nested: { ok: true } };
    expect(redactFields(plain)).toBe(plain);
    const error = Object.assign(new Error('boom'), { text: 'kept for the err serializer' });
    expect(redactFields({ err: error }).err).toBe(error);
  });

  it('looks three levels deep, not further', () => {
    expect(redactFields({ a: { b: { text: 'x' } } })).toEqual({ a: { b: { text: '[redacted]' } } });
    expect(redactFields({ a: { b: { c: { text: 'x' } } } })).toEqual({ a: { b: { c: { text: 'x' } } } });
  });
});

describe('scrubPhoneNumbers', () => {
  it('keeps timestamps, ports and ids that are not phone numbers', () => {
    const line = '{"time":1764041981000,"port":6379,"jobId":"550e8400-e29b-41d4","msg":"ok"}';
    expect(scrubPhoneNumbers(line)).toBe(line);
  });

  it('masks the number inside a serialized WhatsApp message id', () => {
    expect(scrubPhoneNumbers('{"waMessageId":"true_4915123456789@c.us_3EB01A9ACF072128B825E972"}')).toBe('{"waMessageId":"true_49*********89@c.us_3EB01A9ACF072128B825E972"}');
  });
});
