/**
 * Child Node processes: TypeScript through tsx as `npm start` runs the apps (`--conditions=waq-source`),
 * or compiled JavaScript with plain `node` as the Docker images run them (`node dist/main.js`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export const BENCH_API_KEY = 'bench-key-0123456789abcdef0123456789abcdef';

export type ChildLine = Record<string, unknown>;

export interface NodeChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The first stdout line parsed as JSON (the child's "ready" announcement). */
  readonly hello: ChildLine;
  /** Resolves with the first JSON line (seen already or later) matching `match`; rejects after `timeoutMs` or on exit. */
  waitForLine(match: (line: ChildLine) => boolean, timeoutMs: number, what: string): Promise<ChildLine>;
  /** Calls `listener` with every JSON line seen so far and every later one; returns the unsubscribe. */
  onLine(listener: (line: ChildLine) => void): () => void;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait for the first line. @defaultValue 60000 */
  readonly timeoutMs?: number;
}

/** Runs a TypeScript file through tsx (loader hooks and esbuild in the child: tooling cost in its memory). */
export async function spawnTsx(script: string, args: readonly string[], options: SpawnOptions = {}): Promise<NodeChild> {
  return spawnNode(script, ['--conditions=waq-source', '--import', 'tsx', script, ...args], options);
}

/** Runs compiled JavaScript with plain `node`, as a deployment does. */
export async function spawnCompiled(script: string, args: readonly string[], options: SpawnOptions = {}): Promise<NodeChild> {
  return spawnNode(script, [script, ...args], options);
}

async function spawnNode(script: string, nodeArgs: readonly string[], { env = process.env, timeoutMs = 60_000 }: SpawnOptions): Promise<NodeChild> {
  const child = spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'], env });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  const lines: ChildLine[] = [];
  const listeners = new Set<() => void>();
  const lineListeners = new Set<(line: ChildLine) => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: ChildLine;
    try {
      parsed = JSON.parse(line) as ChildLine;
    } catch {
      return; // not a protocol line (a log line): ignored
    }
    lines.push(parsed);
    for (const listener of lineListeners) listener(parsed);
    for (const listener of listeners) listener();
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      for (const listener of listeners) listener();
      resolve();
    }),
  );
  const tail = (): string => stderr.join('').slice(-1_500);

  function waitForLine(match: (line: ChildLine) => boolean, waitMs: number, what: string): Promise<ChildLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find(match);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (exitCode !== undefined) {
          done();
          reject(new Error(`${script} exited (${exitCode}) before ${what}: ${tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${script}: no ${what} within ${waitMs} ms: ${tail()}`));
      }, waitMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 15_000): Promise<void> => {
    stopping ??= (async () => {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  const hello = await waitForLine(() => true, timeoutMs, 'its first line').catch(async (error: unknown) => {
    await stop(0);
    throw error;
  });
  const onLine = (listener: (line: ChildLine) => void): (() => void) => {
    for (const line of lines) listener(line);
    lineListeners.add(listener);
    return () => void lineListeners.delete(listener);
  };
  return { child, pid: child.pid!, hello, waitForLine, onLine, send: (line) => void child.stdin?.write(`${line}\n`), stop };
}
