import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { printTerminalQr, renderTerminalQr } from './terminal-qr.js';

describe('terminal QR', () => {
  it('draws a scannable block of half-block characters, wider for longer values', async () => {
    const short = await renderTerminalQr('2@abc');
    const long = await renderTerminalQr(`2@${'x'.repeat(200)},key,secret,WEB`);
    expect(short).toMatch(/[▀▄█]/);
    const width = (drawing: string) => Math.max(...drawing.split('\n').map((line) => line.length));
    expect(width(long)).toBeGreaterThan(width(short));
  });

  it('prints it with instructions', async () => {
    let text = '';
    await printTerminalQr('2@abc', new Writable({ write: (chunk: Buffer, _e, cb) => ((text += chunk.toString()), cb()) }));
    expect(text).toMatch(/Linked devices/);
    expect(text).toMatch(/█/);
  });
});
