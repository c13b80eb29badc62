/**
 * Child process for the memory case: a plain whatsapp-web.js Client (no waq) with LocalAuth on the
 * simulator, launched with a given Chromium and extra flags. One JSON line per event on stdout:
 * `{"event":"started"}` at once, `{"event":"qr"}` (the parent scans), `{"event":"ready","browserPid":…}`,
 * `{"event":"sent","count":…}` after `send <n>` on stdin. SIGTERM: `client.destroy()`, then exit.
 *
 *   node --conditions=waq-source --import tsx bench/wwebjs-client.ts '<json config>'
 */
import { createInterface } from 'node:readline';

import { prepareSimClientOptions } from '@waq/wa-sim';
import wwebjs from 'whatsapp-web.js';

interface ChildConfig {
  readonly phoneUrl: string;
  readonly cacheDir: string;
  readonly dataPath: string;
  readonly clientId: string;
  readonly chromiumPath: string;
  readonly extraArgs: string[];
  /** Recipient of the probe messages (digits with country code). */
  readonly to: string;
}

function parseConfig(raw: string | undefined): ChildConfig {
  const value: unknown = JSON.parse(raw ?? 'null');
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const text = (key: string): string => {
    const field = record[key];
    if (typeof field !== 'string') throw new Error(`wwebjs-client: config.${key} must be a string`);
    return field;
  };
  const args = record['extraArgs'];
  if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string')) throw new Error('wwebjs-client: config.extraArgs must be a string array');
  return { phoneUrl: text('phoneUrl'), cacheDir: text('cacheDir'), dataPath: text('dataPath'), clientId: text('clientId'), chromiumPath: text('chromiumPath'), extraArgs: args, to: text('to') };
}

const emit = (event: string, data: Record<string, unknown> = {}): void => void process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);

const config = parseConfig(process.argv[2]);
const client = new wwebjs.Client(prepareSimClientOptions(config));
client.on('qr', () => emit('qr'));
client.on('ready', () => emit('ready', { browserPid: client.pupBrowser?.process()?.pid ?? null }));
process.on('unhandledRejection', (reason) => process.stderr.write(`unhandled rejection: ${String(reason)}\n`));

createInterface({ input: process.stdin }).on('line', (line) => {
  const match = /^send (\d+)$/.exec(line.trim());
  if (match === null) return;
  void (async () => {
    const count = Number(match[1]);
    for (let i = 0; i < count; i++) await client.sendMessage(config.to, `memory probe ${i}`);
    emit('sent', { count });
  })();
});
process.once('SIGTERM', () => {
  void client.destroy().finally(() => process.exit(0));
});
emit('started');
void client.initialize();
