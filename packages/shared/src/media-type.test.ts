import { describe, expect, it } from 'vitest';

import { detectMediaType, MediaTypeMismatchError } from './media-type.js';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n', 'latin1');
const OGG = Buffer.concat([Buffer.from('OggS\x00\x02', 'latin1'), Buffer.alloc(40)]);

describe('detectMediaType', () => {
  it('reads the type from the bytes when none is declared', async () => {
    expect(await detectMediaType(PNG)).toBe('image/png');
    expect(await detectMediaType(PDF)).toBe('application/pdf');
    expect(await detectMediaType(Buffer.from('just some text'))).toBe('application/octet-stream');
  });

  it('keeps a declared type of the same family, with its parameters', async () => {
    expect(await detectMediaType(OGG, 'audio/ogg; codecs=opus')).toBe('audio/ogg; codecs=opus');
    expect(await detectMediaType(PNG, 'image/png')).toBe('image/png');
  });

  it('gives way to the bytes for another format of the same family, and for a type that says nothing', async () => {
    expect(await detectMediaType(PNG, 'image/jpeg')).toBe('image/png');
    expect(await detectMediaType(PDF, 'application/octet-stream')).toBe('application/pdf');
  });

  it('refuses a declared type the bytes contradict, naming both', async () => {
    const lie = detectMediaType(PDF, 'image/png');
    await expect(lie).rejects.toBeInstanceOf(MediaTypeMismatchError);
    await expect(lie).rejects.toThrow('the file was declared image/png, but its bytes are application/pdf: declare its real type, or leave the type out and waq reads it from the file');
    await expect(detectMediaType(Buffer.from('not an image at all'), 'image/jpeg')).rejects.toThrow('the file was declared image/jpeg, but its bytes have no image/jpeg signature: send the file itself, or declare its real type');
    await expect(detectMediaType(PNG, 'application/pdf')).rejects.toMatchObject({ code: 'media_type_mismatch', declared: 'application/pdf', detected: 'image/png' });
  });

  it('takes a declared type for formats without a signature, and octet-stream for other unsigned claims', async () => {
    expect(await detectMediaType(Buffer.from('a,b\n1,2\n'), 'text/csv')).toBe('text/csv');
    expect(await detectMediaType(Buffer.from('{"a":1}'), 'application/json')).toBe('application/json');
    expect(await detectMediaType(Buffer.from('whatever'), 'application/x-made-up')).toBe('application/octet-stream');
  });
});
