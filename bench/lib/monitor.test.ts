import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';

import { describe, expect, it, onTestFinished, vi } from 'vitest';

import { monitorRedis, parseMonitorLine, type MonitoredCommand } from './monitor.js';

/** A server that answers MONITOR with what `reply` writes, the way a busy Redis may: in any chunks. */
async function fakeRedis(reply: (socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    socket.once('data', () => reply(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `redis://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('MONITOR lines', () => {
  it('reads the arguments with the escapes Redis writes, and the source', () => {
    expect(parseMonitorLine('1796667847.382474 [0 127.0.0.1:45844] "set" "a \\"b\\"" "x\\\\y\\r\\n\\xff"')).toEqual({
      args: ['set', 'a "b"', 'x\\y\r\n\xff'],
      source: '127.0.0.1:45844',
    });
    expect(parseMonitorLine('1796667847.382489 [0 lua] "hget" "k" ""')).toEqual({ args: ['hget', 'k', ''], source: 'lua' });
  });

  it('refuses a line it cannot read, saying which', () => {
    expect(() => parseMonitorLine('OK')).toThrow(/MONITOR line not understood: OK/);
    expect(() => parseMonitorLine('1.0 [0 lua] "get" "unterminated')).toThrow(/ends inside an argument/);
  });
});

describe('monitorRedis', () => {
  it('keeps a command that arrives in the same read as the +OK, and lines split across reads', async () => {
    const url = await fakeRedis((socket) => {
      socket.write('+OK\r\n+1.1 [0 127.0.0.1:1] "multi"\r\n+1.2 [0 127.0.0.1:1] "set" "k"');
      setImmediate(() => socket.write(' "v"\r\n+1.3 [0 lua] "get" "k"\r\n'));
    });
    const commands: MonitoredCommand[] = [];
    const errors: Error[] = [];
    const monitor = await monitorRedis(url, (command) => commands.push(command), (error) => errors.push(error));
    onTestFinished(() => monitor.close());
    await vi.waitFor(() => expect(commands).toHaveLength(3), { timeout: 10_000, interval: 10 });
    expect(commands.map((c) => [c.source, ...c.args])).toEqual([
      ['127.0.0.1:1', 'multi'],
      ['127.0.0.1:1', 'set', 'k', 'v'],
      ['lua', 'get', 'k'],
    ]);
    expect(errors).toEqual([]);
  });

  it('fails the start when Redis refuses MONITOR, with its answer', async () => {
    const url = await fakeRedis((socket) => socket.write('-NOPERM this user has no permissions to run the monitor command\r\n'));
    await expect(monitorRedis(url, () => undefined, () => undefined)).rejects.toThrow(/MONITOR answered -NOPERM/);
  });

  it('reports a connection lost while monitoring', async () => {
    const url = await fakeRedis((socket) => socket.end('+OK\r\n'));
    const errors: Error[] = [];
    const monitor = await monitorRedis(url, () => undefined, (error) => errors.push(error));
    onTestFinished(() => monitor.close());
    await vi.waitFor(() => expect(errors.map((e) => e.message)).toEqual(['the MONITOR connection closed']), { timeout: 10_000, interval: 10 });
  });
});
