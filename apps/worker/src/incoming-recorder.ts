/**
 * Incoming messages onto the session's event stream, in the order they arrived.
 *
 * A file a contact sent is downloaded (`downloadMedia()`, retried with backoff) and stored in the media
 * store before its event is written; the event carries the stored file's reference and a URL on the
 * API, never the bytes. A file that cannot be had (WhatsApp no longer has it, every download failed, it
 * is over MEDIA_MAX_BYTES) is reported in the event with the reason, and the message still is.
 *
 * One message at a time: a text that arrives while a file before it downloads waits for it, so the
 * stream (and SSE, and webhooks, in `seq` order) keeps the chat's order.
 */
import { MediaEmptyError, MediaTooLargeError, MediaTypeMismatchError, type Logger, type MediaStore, type SessionEvent } from '@waq/shared';

import type { IncomingMessage } from './driver/driver.js';
import { abortableDelay } from './lease.js';
import type { StatePublisher } from './state-publisher.js';
import { withTimeout } from './with-timeout.js';

type IncomingEvent = Extract<SessionEvent, { type: 'message.incoming' }>;
type EventMedia = NonNullable<IncomingEvent['media']>;

export interface IncomingRecorderOptions {
  readonly publisher: Pick<StatePublisher, 'append'>;
  readonly store: MediaStore;
  readonly sessionId: string;
  /** MEDIA_RETENTION_S */
  readonly retentionSeconds: number;
  /** MEDIA_MAX_BYTES */
  readonly maxBytes: number;
  readonly logger: Logger;
  /** @defaultValue 3 */
  readonly attempts?: number;
  /** The first retry's wait, doubling. @defaultValue 1000 */
  readonly backoffMs?: number;
  /** One download's limit. @defaultValue 60000 */
  readonly downloadTimeoutMs?: number;
}

export class IncomingRecorder {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: IncomingRecorderOptions) {}

  /** Queues a message for the stream (after the ones before it). */
  record(message: IncomingMessage): void {
    this.chain = this.chain.then(() => this.publish(message)).catch((error: unknown) => this.options.logger.warn({ err: error, waMessageId: message.waMessageId }, 'could not record an incoming message'));
  }

  private async publish(message: IncomingMessage): Promise<void> {
    const media = message.media === undefined ? undefined : await this.storeMedia(message, message.media);
    const { waMessageId, from, body, timestamp } = message;
    await this.options.publisher.append([{ type: 'message.incoming', at: new Date().toISOString(), waMessageId, from, body, timestamp, ...(media === undefined ? {} : { media }) }]);
  }

  private async storeMedia(message: IncomingMessage, media: NonNullable<IncomingMessage['media']>): Promise<EventMedia> {
    const { attempts = 3, backoffMs = 1_000, downloadTimeoutMs = 60_000, logger } = this.options;
    const log = logger.child({ waMessageId: message.waMessageId, mediaType: media.type });
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        const file = await withTimeout(media.download(), downloadTimeoutMs, 'downloadMedia()');
        if (file === undefined) return { type: media.type, error: 'WhatsApp no longer has the file (it expired on its servers): ask the contact to send it again' };
        const stored = await this.put(file);
        log.info({ mediaId: stored.mediaId, size: stored.size, mimetype: stored.mimetype }, 'incoming file stored');
        return stored;
      } catch (error) {
        if (error instanceof MediaTooLargeError || error instanceof MediaEmptyError) return { type: media.type, error: error.message };
        last = error instanceof Error ? error.message : String(error);
        log.warn({ attempt, attempts, reason: last }, 'downloading an incoming file failed');
        if (attempt < attempts) await abortableDelay(backoffMs * 2 ** (attempt - 1));
      }
    }
    return { type: media.type, error: `the file could not be downloaded (${attempts} attempts; the last: ${last})` };
  }

  private async put(file: { data: Buffer; mimetype: string; filename?: string | undefined }): Promise<Extract<EventMedia, { mediaId: string }>> {
    const { store, retentionSeconds, maxBytes, sessionId } = this.options;
    const options = { ttlSeconds: retentionSeconds, maxBytes, filename: file.filename };
    // WhatsApp's type is a hint: where the bytes say otherwise, they win (the file is kept either way).
    const stored = await store.put([file.data], { ...options, declaredType: file.mimetype }).catch((error: unknown) => {
      if (error instanceof MediaTypeMismatchError) return store.put([file.data], options);
      throw error;
    });
    return {
      mediaId: stored.id,
      mimetype: stored.mimetype,
      size: stored.size,
      sha256: stored.sha256,
      ...(stored.filename === undefined ? {} : { filename: stored.filename }),
      url: `/v1/sessions/${sessionId}/media/${stored.id}`,
    };
  }
}
