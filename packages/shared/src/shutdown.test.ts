import { Writable } from 'node:stream';

import { describe, expect, it, vi } from 'vitest';

import { createLogger } from './logger.js';
import { createShutdown } from './shutdown.js';

const logger = createLogger({ service: 'test', version: '0', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('createShutdown', () => {
  it('runs steps in reverse order, once, and continues past a failing step', async () => {
    const order: string[] = [];
    const shutdown = createShutdown({ logger, timeoutMs: 1_000, exit: vi.fn() });
    shutdown.add('redis', () => void order.push('redis'));
    shutdown.add('queues', () => {
      order.push('queues');
      throw new Error('boom');
    });
    shutdown.add('http', async () => {
      order.push('http');
    });
    await Promise.all([shutdown.run('test'), shutdown.run('again')]);
    expect(order).toEqual(['http', 'queues', 'redis']);
  });

  it('gives up at the deadline', async () => {
    const shutdown = createShutdown({ logger, timeoutMs: 50, exit: vi.fn() });
    let finished = false;
    shutdown.add('stuck', () => new Promise<void>(() => undefined));
    shutdown.add('quick', () => void (finished = true));
    await shutdown.run('test');
    expect(finished).toBe(true);
  });

  it('exits with 128 + signal number after the first signal, at once on the second', async () => {
    const exit = vi.fn();
    const shutdown = createShutdown({ logger, timeoutMs: 5_000, exit });
    let release: () => void = () => undefined;
    shutdown.add('slow', () => new Promise<void>((resolve) => (release = resolve)));
    const before = new Set(process.listeners('SIGTERM'));
    shutdown.installSignalHandlers();
    const handler = process.listeners('SIGTERM').find((l) => !before.has(l)) as (signal: NodeJS.Signals) => void;
    const intHandler = process.listeners('SIGINT').at(-1) as (signal: NodeJS.Signals) => void;
    try {
      handler('SIGTERM');
      expect(exit).not.toHaveBeenCalled();
      intHandler('SIGINT');
      expect(exit).toHaveBeenCalledWith(130);
      release();
      await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(143), { timeout: 15_000 });
    } finally {
      process.off('SIGTERM', handler);
      process.off('SIGINT', intHandler);
    }
  });
});
