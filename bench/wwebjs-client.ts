/**
 * Child process for the memory cases: one or more plain whatsapp-web.js Clients (no waq) in this one
 * Node process, each with LocalAuth on its own simulated account, launched with a given Chromium and
 * extra flags. One JSON line per event on stdout: `{"event":"started"}` at once,
 * `{"event":"qr","clientId":…}` (the parent scans that client's account), `{"event":"ready","clients":n}`
 * once every client is ready, `{"event":"sent","count":…}` after `send <n>` on stdin (n messages from
 * each client); `{"event":"sentUrl","caption":…}` after `sendUrl <url> <caption>` on stdin (the first client
 * sends the file at <url> the way whatsapp-web.js users do: `MessageMedia.fromUrl` + `sendMessage`).
 * SIGTERM: `client.destroy()` of every client, then exit.
 *
 *   node bench/dist/wwebjs-client.js '<json config>'
 */
import { createInterface } from 'node:readline';

import { prepareSimClientOptions } from '@waq/wa-sim';
import wwebjs from 'whatsapp-web.js';

interface ClientSpec {
  /** LocalAuth clientId (the profile is `<dataPath>/session-<clientId>`). */
  readonly clientId: string;
  /** The simulated account's URL. */
  readonly phoneUrl: string;
  /** Web-version cache dir, one per account (the page file names the account). */
  readonly cacheDir: string;
}

interface ChildConfig {
  readonly dataPath: string;
  readonly chromiumPath: string;
  readonly extraArgs: string[];
  /** Recipient of the probe messages (digits with country code). */
  readonly to: string;
  readonly clients: ClientSpec[];
}

type Fields = Record<string, unknown>;

const asRecord = (value: unknown): Fields => (typeof value === 'object' && value !== null ? (value as Fields) : {});

function text(record: Fields, key: string, where: string): string {
  const field = record[key];
  if (typeof field !== 'string') throw new Error(`wwebjs-client: ${where}.${key} must be a string`);
  return field;
}

function parseConfig(raw: string | undefined): ChildConfig {
  const record = asRecord(JSON.parse(raw ?? 'null'));
  const args = record['extraArgs'];
  if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string')) throw new Error('wwebjs-client: config.extraArgs must be a string array');
  const clients = record['clients'];
  if (!Array.isArray(clients) || clients.length === 0) throw new Error('wwebjs-client: config.clients must be a non-empty array');
  return {
    dataPath: text(record, 'dataPath', 'config'),
    chromiumPath: text(record, 'chromiumPath', 'config'),
    extraArgs: args,
    to: text(record, 'to', 'config'),
    clients: clients.map((entry: unknown, i) => {
      const spec = asRecord(entry);
      const where = `config.clients[${i}]`;
      return { clientId: text(spec, 'clientId', where), phoneUrl: text(spec, 'phoneUrl', where), cacheDir: text(spec, 'cacheDir', where) };
    }),
  };
}

const emit = (event: string, data: Record<string, unknown> = {}): void => void process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);

const config = parseConfig(process.argv[2]);
let ready = 0;
const clients = config.clients.map((spec) => {
  const client = new wwebjs.Client(prepareSimClientOptions({ ...spec, dataPath: config.dataPath, chromiumPath: config.chromiumPath, extraArgs: config.extraArgs }));
  client.on('qr', () => emit('qr', { clientId: spec.clientId }));
  client.once('ready', () => {
    ready += 1;
    if (ready === config.clients.length) emit('ready', { clients: ready });
  });
  return client;
});
process.on('unhandledRejection', (reason) => process.stderr.write(`unhandled rejection: ${String(reason)}\n`));

createInterface({ input: process.stdin }).on('line', (line) => {
  const url = /^sendUrl (\S+) (.+)$/.exec(line.trim());
  if (url !== null) {
    void (async () => {
      const [, address = '', caption = ''] = url;
      const media = await wwebjs.MessageMedia.fromUrl(address);
      await clients[0]!.sendMessage(config.to, media, { caption, sendSeen: false, waitUntilMsgSent: true });
      emit('sentUrl', { caption });
    })().catch((error: unknown) => emit('failed', { reason: error instanceof Error ? error.message : String(error) }));
    return;
  }
  const match = /^send (\d+)$/.exec(line.trim());
  if (match === null) return;
  void (async () => {
    const count = Number(match[1]);
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < count; i++) await client.sendMessage(config.to, `memory probe ${i}`);
      }),
    );
    emit('sent', { count });
  })();
});
process.once('SIGTERM', () => {
  void Promise.allSettled(clients.map((client) => client.destroy())).finally(() => process.exit(0));
});
emit('started');
for (const client of clients) void client.initialize();
