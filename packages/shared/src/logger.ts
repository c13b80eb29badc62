/**
 * The pino root logger of every waq process: `{ service, version }` on every line, JSON unless on a
 * terminal, and secrets kept out of logs in two layers:
 * 1. path redaction: known fields holding phone numbers are masked (`+49*********89`), message
 *    bodies, QR values, keys and auth headers are replaced with `[redacted]`;
 * 2. a last-line scrub of every output line: any E.164 number or WhatsApp user id that slipped into a
 *    free-text message (an error from a library, say) is masked as well.
 */
import { Writable } from 'node:stream';

import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

const SECRET = '[redacted]';

/** Fields whose value is masked like a phone number (one level of nesting, as logged by waq). */
const PHONE_FIELDS = ['to', 'from', 'recipient', 'phone', 'wid', 'me', 'chatId'];
/** Fields whose value is replaced entirely. */
const SECRET_FIELDS = ['text', 'body', 'qr', 'apiKey', 'api_key', 'password', 'token', 'secret'];
const HEADER_FIELDS = ['authorization', 'x-api-key', 'cookie', 'set-cookie', 'idempotency-key'];

function withNesting(fields: readonly string[]): string[] {
  return fields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);
}

export const REDACTED_PATHS = [
  ...withNesting(PHONE_FIELDS),
  ...withNesting(SECRET_FIELDS),
  ...HEADER_FIELDS.flatMap((h) => [`req.headers["${h}"]`, `res.headers["${h}"]`, `headers["${h}"]`]),
];

const E164 = /\+\d[\d ]{5,17}\d/g;
// Not `\b` on either side: a serialized message id (`true_4915123456789@c.us_3EB0…`) has word
// characters around the user id, and `\b` let it through in clear (found by the reliability suite).
const WID = /(?<!\d)\d{5,20}(?=@(?:c\.us|s\.whatsapp\.net|lid)(?![a-z.]))/g;

/** Masks the middle digits of phone numbers and WhatsApp user ids found anywhere in `text`. */
export function scrubPhoneNumbers(text: string): string {
  return text.replace(E164, maskDigits).replace(WID, maskDigits);
}

function maskDigits(match: string): string {
  const digits = match.replace(/\D/g, '');
  const plus = match.startsWith('+') ? '+' : '';
  return `${plus}${digits.slice(0, 2)}${'*'.repeat(digits.length - 4)}${digits.slice(-2)}`;
}

function censor(value: unknown, path: string[]): unknown {
  const field = path[path.length - 1] ?? '';
  if (PHONE_FIELDS.includes(field) && typeof value === 'string') return value.replace(/\d{5,}/g, maskDigits);
  return SECRET;
}

/** Wraps a destination so every line is scrubbed of phone numbers before it is written. */
function scrubbing(destination: DestinationStream): DestinationStream {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      destination.write(scrubPhoneNumbers(typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
      callback();
    },
  });
}

export interface LoggerSettings {
  /** e.g. `api`, `worker`. */
  readonly service: string;
  readonly version: string;
  /** LOG_LEVEL @defaultValue 'info' */
  readonly level?: LoggerOptions['level'];
  /** LOG_FORMAT @defaultValue 'auto' (pretty on a TTY) */
  readonly format?: 'auto' | 'json' | 'pretty';
  /** Where lines go. @defaultValue process.stdout */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger({ service, version, level = 'info', format = 'auto', destination = process.stdout }: LoggerSettings): Logger {
  const isTty = 'isTTY' in destination && destination.isTTY === true;
  const usePretty = format === 'pretty' || (format === 'auto' && isTty);
  const sink: DestinationStream = usePretty
    ? pretty({ colorize: isTty, destination, sync: true, ignore: 'pid,hostname,service,version', translateTime: 'SYS:HH:MM:ss.l' })
    : (destination as DestinationStream);
  return pino(
    {
      level,
      base: { service, version },
      redact: { paths: REDACTED_PATHS, censor },
      serializers: { err: pino.stdSerializers.err },
    },
    scrubbing(sink),
  );
}
