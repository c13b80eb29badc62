/**
 * What a media file is, from its own first bytes (file-type's signatures), never from a URL's extension
 * or a header alone.
 *
 * - A signature is found: the file is that type. A declared type naming the same format keeps its
 *   parameters (`audio/ogg; codecs=opus`, which WhatsApp wants for a voice note); one of the same family
 *   but another format (`image/jpeg` for a PNG) gives way to the bytes; one of another family (`image/png`
 *   for a PDF) is refused: the input says one thing and holds another. `application/octet-stream` says
 *   nothing and gives way too.
 * - No signature (plain text, CSV, JSON and other formats without one): the declared type when it is
 *   one of those, else `application/octet-stream`. A declared image, video or audio type without the
 *   signature of one is refused: those formats all have one.
 */
import { fileTypeFromBuffer } from 'file-type';

import { WaqError } from './errors.js';

/** How many leading bytes detection reads (file-type's own minimum for every signature). */
export const MEDIA_SNIFF_BYTES = 4_100;

/** The declared type does not match the file's bytes. */
export class MediaTypeMismatchError extends WaqError {
  override readonly name = 'MediaTypeMismatchError';
  readonly code = 'media_type_mismatch';
  readonly retry = 'unrecoverable';
  constructor(
    readonly declared: string,
    readonly detected: string | null,
  ) {
    super(
      detected === null
        ? `the file was declared ${declared}, but its bytes have no ${declared} signature: send the file itself, or declare its real type`
        : `the file was declared ${declared}, but its bytes are ${detected}: declare its real type, or leave the type out and waq reads it from the file`,
    );
  }
}

/** `type/subtype`, lower case, without parameters. */
export function mimeEssence(mimetype: string): string {
  return mimetype.split(';')[0]!.trim().toLowerCase();
}

const family = (mimetype: string): string => mimeEssence(mimetype).split('/')[0]!;

/** Families file-type reports under another name than the declared one (an Ogg stream is `application/ogg`). */
const SAME_FAMILY: Readonly<Record<string, readonly string[]>> = {
  'application/ogg': ['audio', 'video'],
  'application/mp4': ['audio', 'video'],
  'video/mp4': ['audio'],
  'video/webm': ['audio'],
};

function sameFamily(declared: string, detected: string): boolean {
  return family(declared) === family(detected) || (SAME_FAMILY[mimeEssence(detected)] ?? []).includes(family(declared));
}

/** Types that say nothing of the format (what a client sends when it does not know). */
const GENERIC_TYPES = new Set(['application/octet-stream', 'binary/octet-stream', 'application/unknown']);

/** Formats with no signature that a declared type may name as they are. */
const UNSIGNED_FAMILIES = new Set(['text']);
const UNSIGNED_TYPES = new Set(['application/json', 'application/x-ndjson', 'application/csv', 'application/xml', 'application/octet-stream', 'application/x-subrip', 'application/vnd.ms-outlook']);
const SIGNED_FAMILIES = new Set(['image', 'video', 'audio']);

/**
 * The file's type from its first bytes ({@link MEDIA_SNIFF_BYTES} of them, or all of a smaller file),
 * with the declared type where it agrees. @throws MediaTypeMismatchError
 */
export async function detectMediaType(head: Uint8Array, declared?: string): Promise<string> {
  const found = await fileTypeFromBuffer(head);
  const given = declared === undefined || declared.trim() === '' ? undefined : declared.trim();
  if (found !== undefined) {
    if (given === undefined || GENERIC_TYPES.has(mimeEssence(given))) return found.mime;
    if (!sameFamily(given, found.mime)) throw new MediaTypeMismatchError(given, found.mime);
    // The declared type where it names the same format (it may carry parameters), else the bytes' own.
    return mimeEssence(given) === mimeEssence(found.mime) || SAME_FAMILY[mimeEssence(found.mime)] !== undefined ? given : found.mime;
  }
  if (given === undefined) return 'application/octet-stream';
  if (SIGNED_FAMILIES.has(family(given))) throw new MediaTypeMismatchError(given, null);
  return UNSIGNED_FAMILIES.has(family(given)) || UNSIGNED_TYPES.has(mimeEssence(given)) ? given : 'application/octet-stream';
}
