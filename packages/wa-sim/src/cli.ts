/**
 * The phone server as its own process, so it outlives gateway crashes:
 *   node --conditions=waq-source --import tsx packages/wa-sim/src/cli.ts --port 4100 [--ack-delay-ms 300]
 *     [--qr-refresh-ms 20000] [--me 15550100001] [--pushname "waq sandbox"] [--unregistered 4915...,...]
 *     [--state-dir <dir>]
 * One process serves every account: the default one at the root (--me/--pushname are its), account <id>
 * under /accounts/<id>/ (created on first use; see the README's phone API).
 * With --state-dir every account (linked devices, messages, identity) is kept — the default one in
 * <dir>/account.json, the others in <dir>/accounts/<id>/account.json — and restored on the next start;
 * without it, they live in memory. Log lines go to stderr.
 * Prints one JSON line when listening: {"event":"wa-sim-ready","url":"http://127.0.0.1:4100","port":4100}.
 * SIGTERM/SIGINT: close (which writes the account file), exit 128+signo.
 */
import { parseArgs } from 'node:util';
import { defaultIsRegistered, normalizeNumber } from './numbers.js';
import { startPhoneServer } from './phone-server.js';

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'ack-delay-ms': { type: 'string' },
      'server-ack-delay-ms': { type: 'string' },
      'qr-refresh-ms': { type: 'string' },
      me: { type: 'string' },
      pushname: { type: 'string' },
      unregistered: { type: 'string' },
      'state-dir': { type: 'string' },
    },
    strict: true,
  });
  const unregistered = new Set((values.unregistered ?? '').split(',').filter(Boolean).map((n) => normalizeNumber(n) ?? n));
  const port = intOption('port', values.port);
  const ackDelayMs = intOption('ack-delay-ms', values['ack-delay-ms']);
  const qrRefreshMs = intOption('qr-refresh-ms', values['qr-refresh-ms']);
  const serverAckDelayMs = intOption('server-ack-delay-ms', values['server-ack-delay-ms']);
  const server = await startPhoneServer({
    ...(port !== undefined ? { port } : {}),
    ...(values.host ? { host: values.host } : {}),
    ...(ackDelayMs !== undefined ? { ackDelayMs } : {}),
    ...(serverAckDelayMs !== undefined ? { serverAckDelayMs } : {}),
    ...(qrRefreshMs !== undefined ? { qrRefreshMs } : {}),
    ...(values.me ? { me: normalizeNumber(values.me) ?? values.me } : {}),
    ...(values.pushname ? { pushname: values.pushname } : {}),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    isRegistered: (n) => defaultIsRegistered(n) && !unregistered.has(n),
  });
  process.stdout.write(`${JSON.stringify({ event: 'wa-sim-ready', url: server.url, port: server.port })}\n`);

  const signals = { SIGINT: 2, SIGTERM: 15 } as const;
  for (const [signal, signo] of Object.entries(signals)) {
    process.once(signal, () => {
      void server.close().finally(() => process.exit(128 + signo));
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wa-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
