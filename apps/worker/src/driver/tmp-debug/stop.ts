import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { prepareSimClientOptions, startPhoneServer } from '@waq/wa-sim';
import { WwebjsDriver } from '../wwebjs-driver.js';
const logger = { debug: console.log, info: console.log, warn: console.log, error: console.log } as any;
const dir = mkdtempSync(join(tmpdir(), 'waq-dbg-'));
const server = await startPhoneServer({ ackDelayMs: 50 });
const d = new WwebjsDriver(prepareSimClientOptions({ phoneUrl: server.url, cacheDir: join(dir, 'c'), dataPath: join(dir, 'a'), clientId: 'default' }), { logger, closeTimeoutMs: 1000 });
d.on('qr', () => server.phone.scan());
const ready = new Promise((r) => d.once('ready', r));
await d.initialize(); await ready;
const pid = d.browserPid()!;
console.log('pid', pid); console.log(execSync(`ps -o pid,ppid,pgid,stat,comm -g ${pid}`).toString());
process.kill(pid, 'SIGSTOP');
const t = Date.now(); await d.destroy(); console.log('destroy ms', Date.now() - t);
try { console.log(execSync(`ps -o pid,ppid,pgid,stat,comm -g ${pid}`).toString()); } catch { console.log('group gone'); }
await server.close(); rmSync(dir, { recursive: true, force: true });
