/**
 * Records WhatsApp's acks of messages waq sent: the message record's ack level and a `message.ack`
 * event. Acks come in bursts (every message is acked three times, and many at once after a reconnect),
 * so they are written in batches: whatever arrived while the previous batch was being written goes out
 * together, as one lookup of the message ids and one MULTI, two round trips per batch instead of two
 * per ack. No timer: a lone ack is written at once.
 */
import { ACK_LEVELS, type AckName, type Logger, type RedisClient, type SessionKeys } from '@waq/shared';

import type { StatePublisher } from './state-publisher.js';

interface Ack {
  readonly waMessageId: string;
  readonly ack: AckName;
  readonly at: string;
}

export class AckRecorder {
  private pending: Ack[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: SessionKeys,
    private readonly publisher: StatePublisher,
    private readonly logger: Logger,
  ) {}

  /** Queues one ack (`MessageAck` numbering) for writing. */
  record(waMessageId: string, ack: number): void {
    const name = (Object.entries(ACK_LEVELS).find(([, level]) => level === ack)?.[0] ?? 'pending') as AckName;
    this.pending.push({ waMessageId, ack: name, at: new Date().toISOString() });
    this.writing ??= this.drain();
  }

  /** Resolves once every ack recorded so far is written (or failed and logged). */
  async idle(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        await this.write(batch).catch((error: unknown) => this.logger.warn({ err: error, acks: batch.length }, 'could not record acks'));
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async write(batch: readonly Ack[]): Promise<void> {
    // All keys carry the session's hash tag: one MGET, one MULTI, also on a cluster.
    const ids = await this.redis.mget(batch.map((a) => this.keys.waMessage(a.waMessageId)));
    const events = batch.map(({ waMessageId, ack, at }, i) => {
      const id = ids[i] ?? null;
      return { type: 'message.ack' as const, at, waMessageId, ack, ...(id === null ? {} : { id }) };
    });
    await this.publisher.append(events, (multi) => {
      for (const event of events) if (event.id !== undefined) multi.hset(this.keys.message(event.id), { ack: event.ack, ackAt: event.at });
    });
  }
}
