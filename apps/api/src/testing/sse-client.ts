/** A minimal Server-Sent Events reader over fetch, for tests: frames in order, and a way to hang up. */

export interface SseFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  /** Comment lines (heartbeats), without the leading colon. */
  readonly comment?: string;
  readonly retry?: number;
}

export interface SseConnection {
  readonly response: Response;
  /** The next frame; rejects after `timeoutMs` or when the stream ends. */
  next(timeoutMs?: number): Promise<SseFrame>;
  /** The next frame with an `event` field (skips heartbeats and `retry`). */
  nextEvent(timeoutMs?: number): Promise<SseFrame>;
  close(): void;
}

function parseFrame(block: string): SseFrame {
  const frame: { id?: string; event?: string; data?: string; comment?: string; retry?: number } = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) frame.comment = line.slice(1).trim();
    else {
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') frame.id = value;
      else if (field === 'event') frame.event = value;
      else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      else if (field === 'retry') frame.retry = Number(value);
    }
  }
  return frame;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseConnection> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: SseFrame[] = [];

  async function next(timeoutMs = 5_000): Promise<SseFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = queue.shift();
      if (frame !== undefined) return frame;
      if (reader === undefined) throw new Error(`no stream: HTTP ${response.status}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for an SSE frame');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error('timed out waiting for an SSE frame')), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('the stream ended');
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        queue.push(parseFrame(buffer.slice(0, end)));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  return {
    response,
    next,
    async nextEvent(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const frame = await next(Math.max(1, deadline - Date.now()));
        if (frame.event !== undefined) return frame;
      }
    },
    close() {
      abort.abort();
    },
  };
}
