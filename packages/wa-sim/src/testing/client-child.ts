/**
 * A Node process that holds one real whatsapp-web.js Client against the simulator, so tests can SIGTERM
 * or kill -9 "the gateway" for real. Protocol: one JSON object per line.
 *   stdout: { event: 'qr' | 'authenticated' | 'ready' | 'message' | 'message_ack' | 'change_state' |
 *             'disconnected' | 'browser' | 'browser_disconnected' | 'unhandled' | 'result', ... , at }
 *   stdin:  { id, cmd: 'send' | 'sendMedia' | 'download' | 'state' | 'fetch' | 'missing' | 'registered' | 'logout' | 'destroy', ... }
 *           → { event: 'result', id, ok, value|error }
 * Config comes from argv[2] as JSON ({@link ChildConfig}).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import wwebjs from 'whatsapp-web.js';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { prepareSimClientOptions } from '../sim-client-options.js';

const configSchema = z.object({
  phoneUrl: z.string(),
  cacheDir: z.string(),
  dataPath: z.string(),
  clientId: z.string(),
  chromiumPath: z.string().optional(),
});
export type ChildConfig = z.infer<typeof configSchema>;

const commandSchema = z.discriminatedUnion('cmd', [
  z.object({ id: z.number(), cmd: z.literal('send'), to: z.string(), body: z.string() }),
  /** A file as whatsapp-web.js users send one: `MessageMedia` (base64 of the file at `path`) and the send options. */
  z.object({
    id: z.number(),
    cmd: z.literal('sendMedia'),
    to: z.string(),
    path: z.string(),
    mimetype: z.string(),
    filename: z.string().optional(),
    caption: z.string().optional(),
    asDocument: z.boolean().optional(),
    asVoice: z.boolean().optional(),
    asSticker: z.boolean().optional(),
  }),
  /** `message.downloadMedia()` of a message this client has seen (by its serialized id). */
  z.object({ id: z.number(), cmd: z.literal('download'), messageId: z.string() }),
  z.object({ id: z.number(), cmd: z.literal('state') }),
  z.object({ id: z.number(), cmd: z.literal('fetch'), chatId: z.string(), limit: z.number() }),
  z.object({ id: z.number(), cmd: z.literal('missing') }),
  z.object({ id: z.number(), cmd: z.literal('registered'), number: z.string() }),
  z.object({ id: z.number(), cmd: z.literal('logout') }),
  z.object({ id: z.number(), cmd: z.literal('destroy') }),
]);

const emit = (event: string, data: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);
};

const config = configSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const client = new wwebjs.Client(prepareSimClientOptions(config));

process.on('unhandledRejection', (reason) => emit('unhandled', { reason: String(reason) }));
client.on('qr', (qr: string) => emit('qr', { qr }));
client.on('authenticated', () => emit('authenticated'));
client.on('ready', () => emit('ready', { wid: client.info.wid._serialized, pushname: client.info.pushname }));
/** Messages seen, for `download`. */
const seen = new Map<string, wwebjs.Message>();
client.on('message', (m: wwebjs.Message) => {
  seen.set(m.id._serialized, m);
  emit('message', { id: m.id._serialized, from: m.from, body: m.body, type: m.type, hasMedia: m.hasMedia });
});
client.on('message_ack', (m: wwebjs.Message, ack: number) => emit('message_ack', { id: m.id._serialized, ack }));
client.on('change_state', (state: string) => emit('change_state', { state }));
client.on('disconnected', (reason: string) => emit('disconnected', { reason }));

async function run(cmd: z.infer<typeof commandSchema>): Promise<unknown> {
  switch (cmd.cmd) {
    case 'send': {
      const m = await client.sendMessage(cmd.to, cmd.body);
      return { id: m.id.id, serialized: m.id._serialized, ack: m.ack, timestamp: m.timestamp };
    }
    case 'sendMedia': {
      const media = new wwebjs.MessageMedia(cmd.mimetype, readFileSync(cmd.path).toString('base64'), cmd.filename ?? null);
      const m = await client.sendMessage(cmd.to, media, {
        ...(cmd.caption === undefined ? {} : { caption: cmd.caption }),
        sendMediaAsDocument: cmd.asDocument === true,
        sendAudioAsVoice: cmd.asVoice === true,
        sendMediaAsSticker: cmd.asSticker === true,
      });
      seen.set(m.id._serialized, m);
      return { id: m.id.id, serialized: m.id._serialized, type: m.type, hasMedia: m.hasMedia, body: m.body };
    }
    case 'download': {
      const message = seen.get(cmd.messageId);
      if (message === undefined) throw new Error(`no message ${cmd.messageId} seen by this client`);
      const media = await message.downloadMedia();
      if (media === undefined) return null;
      const bytes = Buffer.from(media.data, 'base64');
      return { mimetype: media.mimetype, filename: media.filename ?? null, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    }
    case 'state':
      return client.getState();
    case 'fetch': {
      const chat = await client.getChatById(cmd.chatId);
      const msgs = await chat.fetchMessages({ limit: cmd.limit });
      return msgs.map((m) => ({ id: m.id.id, fromMe: m.fromMe, body: m.body, ack: m.ack }));
    }
    case 'missing':
      return client.pupPage?.evaluate('window.__waSim.missing');
    case 'registered':
      return client.isRegisteredUser(cmd.number);
    case 'logout':
      await client.logout();
      return true;
    case 'destroy':
      await client.destroy();
      return true;
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const parsed = commandSchema.safeParse(JSON.parse(line));
  if (!parsed.success) return emit('result', { id: -1, ok: false, error: parsed.error.message });
  const cmd = parsed.data;
  run(cmd).then(
    (value) => emit('result', { id: cmd.id, ok: true, value }),
    (err: unknown) => emit('result', { id: cmd.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});

// The first signal destroys the client (flushes the profile) like the gateway's shutdown does.
process.once('SIGTERM', () => {
  void client.destroy().finally(() => process.exit(143));
});

void (async () => {
  const init = client.initialize();
  // initialize() launches Chromium before it navigates: report its pid so the test can kill -9 it.
  const started = Date.now();
  while (!client.pupBrowser && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 20));
  emit('browser', { pid: client.pupBrowser?.process()?.pid ?? null });
  client.pupBrowser?.on('disconnected', () => emit('browser_disconnected'));
  await init;
})().catch((err: unknown) => emit('init_failed', { error: String(err) }));
