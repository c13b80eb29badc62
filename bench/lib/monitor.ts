/**
 * Redis MONITOR on a socket of its own, for counting the commands a process sends.
 *
 * Not ioredis's `monitor()`: it enters monitoring mode in a promise callback after MONITOR's `+OK`, so a
 * command line that arrives in the same read as that `+OK` goes to the command queue instead and fails
 * with "Command queue state error" (ioredis 5.11; the bench smoke run hit it while the API was busy).
 * Here every line after `+OK` is a command line, by construction.
 */
import { connect, type Socket } from 'node:net';

export interface MonitoredCommand {
  /** The command and its arguments, unescaped (`"set" "k" "v"` → `['set', 'k', 'v']`). */
  readonly args: string[];
  /** The client's `ip:port`, `lua` for a command a script ran, or `unix:…`. */
  readonly source: string;
}

export interface RedisMonitor {
  close(): void;
}

const LINE = /^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/;
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' };

/** Parses one MONITOR line (the text after RESP's `+`), as Redis writes it with `sdscatrepr`. */
export function parseMonitorLine(line: string): MonitoredCommand {
  const match = LINE.exec(line);
  if (match === null) throw new Error(`MONITOR line not understood: ${line.slice(0, 200)}`);
  const [, source = '', rest = ''] = match;
  const args: string[] = [];
  let i = 0;
  while (i < rest.length) {
    if (rest[i] === ' ') {
      i += 1;
      continue;
    }
    if (rest[i] !== '"') throw new Error(`MONITOR line not understood at character ${i} of its arguments: ${line.slice(0, 200)}`);
    i += 1;
    let value = '';
    for (;;) {
      const ch = rest[i];
      if (ch === undefined) throw new Error(`MONITOR line ends inside an argument: ${line.slice(0, 200)}`);
      if (ch === '"') {
        i += 1;
        break;
      }
      if (ch === '\\') {
        const next = rest[i + 1] ?? '';
        if (next === 'x') {
          value += String.fromCharCode(Number.parseInt(rest.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          value += ESCAPES[next] ?? next;
          i += 2;
        }
        continue;
      }
      value += ch;
      i += 1;
    }
    args.push(value);
  }
  return { args, source };
}

/**
 * Connects to `url`, sends MONITOR and resolves once Redis has said `+OK`; then calls `onCommand` for
 * every command Redis runs, and `onError` once if the connection fails or a line cannot be read.
 */
export async function monitorRedis(url: string, onCommand: (command: MonitoredCommand) => void, onError: (error: Error) => void): Promise<RedisMonitor> {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect({ host: hostname, port: Number(port || 6379) });
  socket.setEncoding('latin1');
  let failed = false;
  const fail = (error: Error): void => {
    if (failed) return;
    failed = true;
    socket.destroy();
    onError(error);
  };
  return new Promise<RedisMonitor>((resolve, reject) => {
    let monitoring = false;
    let buffered = '';
    socket.once('connect', () => socket.write('MONITOR\r\n'));
    socket.on('error', (error) => (monitoring ? fail(error) : reject(error)));
    socket.on('close', () => {
      if (monitoring) fail(new Error('the MONITOR connection closed'));
      else reject(new Error(`the MONITOR connection to ${hostname}:${port} closed before Redis said OK`));
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!monitoring) {
          if (line !== '+OK') {
            socket.destroy();
            reject(new Error(`MONITOR answered ${line.slice(0, 200)}`));
            return;
          }
          monitoring = true;
          resolve({
            close() {
              monitoring = false;
              failed = true;
              socket.destroy();
            },
          });
          continue;
        }
        if (!line.startsWith('+')) return fail(new Error(`MONITOR sent ${line.slice(0, 200)}`));
        try {
          onCommand(parseMonitorLine(line.slice(1)));
        } catch (error) {
          return fail(error instanceof Error ? error : new Error(String(error)));
        }
      }
    });
  });
}
