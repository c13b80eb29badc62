import { describe, expect, it } from 'vitest';

import { parseRecipient, recipientSchema } from './recipient.js';

describe('parseRecipient', () => {
  it.each([
    ['+49 151 23456789', '4915123456789@c.us'],
    ['+49-151-234-56789', '4915123456789@c.us'],
    ['+1 (415) 555-0100', '14155550100@c.us'],
    ['  +44 7911.123456 ', '447911123456@c.us'],
    ['4915123456789@c.us', '4915123456789@c.us'],
    ['4915123456789@C.US', '4915123456789@c.us'],
    ['4915123456789@s.whatsapp.net', '4915123456789@c.us'],
    ['123456789012345@lid', '123456789012345@lid'],
    ['120363025343454321@g.us', '120363025343454321@g.us'],
    ['4915123456789-1612345678@g.us', '4915123456789-1612345678@g.us'],
  ])('normalises %j to %j', (input, wid) => {
    const result = parseRecipient(input);
    expect(result).toEqual({ ok: true, value: { wid, kind: wid.endsWith('@g.us') ? 'group' : 'user' } });
  });

  it.each([
    ['', /empty/],
    ['0151 23456789', /no country code/],
    ['4915123456789', /no country code/],
    ['+0151234567', /cannot start with \+0/],
    ['+12345', /7 to 15 digits/],
    ['+1234567890123456', /7 to 15 digits/],
    ['+49 151 CALLME', /characters other than digits/],
    ['hello', /not a phone number/],
    ['4915123456789@example.com', /not a valid WhatsApp id/],
    ['@c.us', /not a valid WhatsApp id/],
    ['12@g.us', /not a valid WhatsApp id/],
  ])('rejects %j with a message saying what is wrong', (input, message) => {
    const result = parseRecipient(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });
});

describe('recipientSchema', () => {
  it('outputs the WhatsApp id and is idempotent on its own output', () => {
    const once = recipientSchema.parse('+49 151 23456789');
    expect(recipientSchema.parse(once)).toBe(once);
  });

  it('rejects non-strings and overlong input', () => {
    expect(recipientSchema.safeParse(4915123456789).success).toBe(false);
    expect(recipientSchema.safeParse('+' + '1'.repeat(100)).error?.issues[0]?.message).toMatch(/too long/);
  });
});
