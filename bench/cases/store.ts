/**
 * 11. The session store (SESSION_STORE=redis): how long backing a session's profile up into Redis and
 * restoring it on takeover take, and what a session costs in Redis memory. Three profiles: the one the
 * simulator leaves (paired in real Chromium, a few sends, closed), and copies of it padded with
 * IndexedDB data to the sizes of BENCH_STORE_SIZES_MB.
 *
 * - waq: the worker's own `ProfileBackup` on a `SessionStore` (apps/worker/src/profile-backup.ts):
 *   backup = hot copy into a staging dir with its consistency check, gzip'd tar, 1 MiB − 64 B chunks through
 *   the lease-fenced scripts, commit; restore on another host that took the lease = store state, read
 *   with SHA-256 check, unpack into a side dir, swap in.
 * - baseline: whatsapp-web.js's own RemoteAuth (same package, its optional `archiver` and `unzipper`)
 *   with a store that is a directory on the local disk: `save` renames the zip into it and `extract`
 *   hard-links it back, so the store moves no byte and the figure is RemoteAuth's zip to a local file
 *   and its unzip from it.
 * - also: waq's archive (the same `packStaged` / `unpackArchive`) to and from a local file, no Redis:
 *   the floor of the format, so that what the store itself adds (Redis, checksum, fencing, swap) shows.
 */
import { randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, cp, link, lstat, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { createLogger, createRedis, SessionStore, sessionKeys, STORE_CHUNK_BYTES, type BackupManifest, type Logger, type RedisClient, type SessionKeys } from '@waq/shared';
import { prepareSimClientOptions, resolveChromium, startPhoneServer } from '@waq/wa-sim';
import wwebjs from 'whatsapp-web.js';

import { BACKED_UP, packStaged, unpackArchive } from '../../apps/worker/src/profile-archive.js';
import { ProfileBackup } from '../../apps/worker/src/profile-backup.js';
import { SessionProfile } from '../../apps/worker/src/profile.js';
import type { BenchOptions } from '../lib/options.js';
import { MB } from '../lib/processes.js';
import { benchPrefix, deletePrefix } from '../lib/redis.js';
import { table, type CaseReport, type Verdict } from '../lib/report.js';
import { fmt, fmtSummary, pollUntil, summarize, withTimeout, type Summary } from '../lib/stats.js';
import { PROBE_TO } from '../lib/tree-memory.js';

type CaseBody = Omit<CaseReport, 'id' | 'load' | 'seconds'>;

const SESSION = 'bench';
const OWNER_A = 'bench-store-host-a';
const OWNER_B = 'bench-store-host-b';
/** Long enough that no lease runs out during a 200 MB backup on a loaded machine. */
const LEASE_MS = 600_000;
/** Sends on the simulator session before its profile is taken, as a session in use (the simulator keeps chats on its phone side: its IndexedDB holds little more than the session). */
const SIM_SENDS = 20;
/** Where WhatsApp Web's IndexedDB lives in the profile; the padding goes there. */
const IDB_DIR = 'Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb';
const PAD_FILE_BYTES = 4 * MB;
/** Padding is written in blocks of this size: the first half random, the second half message-like records. */
const PAD_BLOCK = 64 * 1024;
const TARGET_RATIO = 2;
/**
 * A chunk size for comparison: exactly 1 MiB. jemalloc (Redis's allocator) has size classes 1 MiB,
 * 1.25 MiB, …: a value of 1 MiB plus its sds header takes 1.25 MiB, hence the store's 1 MiB − 64 B.
 */
const ROUND_CHUNK_BYTES = 1024 * 1024;

interface Profile {
  readonly label: string;
  /** The profile directory (`<sessionDir>/session-bench`, LocalAuth's layout as the worker uses it). */
  readonly dir: string;
  readonly sessionDir: string;
  readonly files: number;
  readonly bytes: number;
  /** Files of padding added (0: the simulator's own profile). */
  readonly padFiles: number;
}

interface Tree {
  readonly files: number;
  readonly bytes: number;
}

/** Files and bytes under `roots` of `profileDir` (by default what a backup holds). */
async function sizeOf(profileDir: string, roots: readonly string[] = BACKED_UP): Promise<Tree> {
  let files = 0;
  let bytes = 0;
  const walk = async (target: string): Promise<void> => {
    const info = await lstat(target).catch(() => null);
    if (info === null) return;
    if (info.isDirectory()) {
      for (const entry of await readdir(target)) await walk(path.join(target, entry));
    } else if (info.isFile()) {
      files += 1;
      bytes += info.size;
    }
  };
  for (const root of roots) await walk(path.join(profileDir, root));
  return { files, bytes };
}

const DATABASES = ['Default/IndexedDB', 'Default/Local Storage'] as const;

/** How far `restored` is from holding each database of the source (`expected`, from {@link databasesOf}): '' when it holds all. */
async function missingFrom(expected: readonly Tree[], restored: string): Promise<string> {
  const problems: string[] = [];
  for (const [i, root] of DATABASES.entries()) {
    const want = expected[i]!;
    const have = await sizeOf(restored, [root]);
    if (have.files !== want.files || have.bytes !== want.bytes) problems.push(`${have.files} files / ${have.bytes} B of ${root}, the source has ${want.files} / ${want.bytes}`);
  }
  return problems.join('; ');
}

const databasesOf = (profileDir: string): Promise<Tree[]> => Promise.all(DATABASES.map((root) => sizeOf(profileDir, [root])));

/** Throws unless `restored` holds as many files and bytes of each database as the source (waq's marker files may differ). */
async function assertRestored(expected: readonly Tree[], restored: string, side: string): Promise<void> {
  const missing = await missingFrom(expected, restored);
  if (missing !== '') throw new Error(`store: ${side} restored ${missing}`);
}

/** A logger at `info` into a sink that keeps the last warning or error line, for the message of a failed backup. */
function recordingLogger(): { logger: Logger; last: () => string } {
  let last = '(nothing logged)';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = chunk.toString();
      if (/"level":(40|50|60)/.test(line)) last = line.trim();
      done();
    },
  });
  return { logger: createLogger({ service: 'bench-store', version: 'bench', level: 'info', format: 'json', destination }), last: () => last };
}

/** Pairs a plain whatsapp-web.js client with the simulator (LocalAuth under `sessionDir`), sends a few messages, closes it, marks the profile saved. */
async function simulatorProfile(sessionDir: string, cacheDir: string, logger: Logger): Promise<void> {
  const phone = await startPhoneServer({});
  const client = new wwebjs.Client(prepareSimClientOptions({ phoneUrl: phone.url, cacheDir, dataPath: sessionDir, clientId: SESSION }));
  client.on('qr', () => {
    try {
      phone.phone.scan();
    } catch {
      // the QR was replaced meanwhile: the next one scans
    }
  });
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  try {
    void client.initialize().catch(() => undefined); // failures surface as the timeout
    await withTimeout(ready, 90_000, 'the simulator session to become ready');
    for (let i = 0; i < SIM_SENDS; i += 1) await client.sendMessage(`${PROBE_TO}@c.us`, `store benchmark ${i}`, { waitUntilMsgSent: true });
  } finally {
    // A graceful close: Chromium flushes its databases, as before a worker's shutdown backup.
    await client.destroy().catch(() => undefined);
    await phone.close();
  }
  await new SessionProfile(sessionDir, SESSION, logger).markSaved();
}

/**
 * `size` bytes of IndexedDB-like data: per 64 KiB block, 32 KiB of random bytes (LevelDB tables hold
 * snappy-compressed blocks and WhatsApp's encrypted blobs: incompressible) and 32 KiB of message-like
 * JSON records with running ids (what gzip does compress).
 */
function padding(size: number, file: number): Buffer {
  const out = Buffer.alloc(size);
  let record = file * 1_000_000;
  for (let at = 0; at < size; at += PAD_BLOCK) {
    const random = Math.min(PAD_BLOCK / 2, size - at);
    randomFillSync(out, at, random);
    let text = '';
    while (text.length < PAD_BLOCK / 2) {
      record += 1;
      text += `{"id":"true_${PROBE_TO}@c.us_3EB0${record.toString(16).toUpperCase().padStart(16, '0')}","type":"chat","t":${1_700_000_000 + record},"ack":3,"star":false},`;
    }
    out.write(text, at + random, Math.max(0, Math.min(PAD_BLOCK / 2, size - at - random)), 'latin1');
  }
  return out;
}

/** A copy of `source` whose IndexedDB is padded to `targetBytes` with `PAD_FILE_BYTES` table files. */
async function paddedProfile(source: Profile, label: string, sessionDir: string, targetBytes: number): Promise<Profile> {
  const dir = path.join(sessionDir, `session-${SESSION}`);
  await cp(source.dir, dir, { recursive: true });
  let missing = targetBytes - (await sizeOf(dir, ['Default/IndexedDB'])).bytes;
  let padFiles = 0;
  while (missing > 0) {
    const size = Math.min(PAD_FILE_BYTES, missing);
    // Table-file names above any the simulator's database uses (LevelDB numbers its files in one sequence).
    await writeFile(path.join(dir, IDB_DIR, `${String(100_001 + padFiles).padStart(6, '0')}.ldb`), padding(size, padFiles));
    missing -= size;
    padFiles += 1;
  }
  const tree = await sizeOf(dir);
  return { label, dir, sessionDir, files: tree.files, bytes: tree.bytes, padFiles };
}

/** RemoteAuth's store contract; this one keeps the zip in a directory on the local disk and copies nothing. */
class LocalDiskStore implements wwebjs.Store {
  /** Size of the last zip saved. */
  lastBytes = 0;

  constructor(
    private readonly dir: string,
    /** The saving host's RemoteAuth `dataPath`: whatsapp-web.js 1.34.7 writes the zip to `<dataPath>/<session>.zip` and passes only the session name to `save`. */
    private readonly dataPath: string,
  ) {}

  private file(session: string): string {
    return path.join(this.dir, `${session}.zip`);
  }

  async sessionExists({ session }: { session: string }): Promise<boolean> {
    return access(this.file(session)).then(
      () => true,
      () => false,
    );
  }

  async save({ session }: { session: string }): Promise<void> {
    const zip = path.join(this.dataPath, `${session}.zip`);
    this.lastBytes = (await stat(zip)).size;
    await rename(zip, this.file(session));
  }

  async extract({ session, path: to }: { session: string; path: string }): Promise<void> {
    await rm(to, { force: true });
    // RemoteAuth deletes the extracted zip after unzipping it: a hard link keeps the stored one.
    await link(this.file(session), to);
  }

  async delete({ session }: { session: string }): Promise<void> {
    await rm(this.file(session), { force: true });
  }
}

/** What RemoteAuth has but its typings (whatsapp-web.js 1.34.7) do not declare. */
interface RemoteAuthInternals {
  userDataDir: string;
  sessionName: string;
  storeRemoteSession(options?: { emit: boolean }): Promise<void>;
}

interface Runs {
  readonly waqBackup: number[];
  readonly waqRestore: number[];
  readonly waqRead: number[];
  readonly waqUnpack: number[];
  readonly remoteBackup: number[];
  readonly remoteRestore: number[];
  readonly remoteReturned: number[];
  readonly fileBackup: number[];
  readonly fileRestore: number[];
}

interface Measured {
  readonly profile: Profile;
  readonly waqBackup: Summary;
  readonly waqRestore: Summary;
  readonly waqRead: Summary;
  readonly waqUnpack: Summary;
  readonly remoteBackup: Summary;
  readonly remoteRestore: Summary;
  /** RemoteAuth's restore promise resolved (before its last files are written). */
  readonly remoteReturned: Summary;
  readonly fileBackup: Summary;
  readonly fileRestore: Summary;
  readonly manifest: BackupManifest;
  readonly zipBytes: number;
  readonly fileBytes: number;
  /** MEMORY USAGE summed over the current generation's manifest and chunks. */
  readonly backupMemory: number;
  /** The same over every key of the session's store: index, generation set, current and previous generation. */
  readonly sessionMemory: number;
  /** MEMORY USAGE of the same archive stored in chunks of `ROUND_CHUNK_BYTES`. */
  readonly roundMemory: number;
}

async function memoryUsage(redis: RedisClient, keys: readonly string[]): Promise<number> {
  let total = 0;
  for (const key of keys) total += Number((await redis.call('MEMORY', 'USAGE', key)) ?? 0);
  return total;
}

/** MEMORY USAGE of `manifest`'s archive stored again in chunks of `chunkBytes`, under another session id (deleted after). */
async function memoryWithChunks(redis: RedisClient, prefix: string, from: SessionStore, manifest: BackupManifest, chunkBytes: number): Promise<number> {
  const sessionId = `${SESSION}-rechunked`;
  const keys = sessionKeys({ prefix, sessionId });
  const store = new SessionStore(redis, keys, sessionId, { chunkBytes });
  await redis.set(keys.lease, OWNER_A, 'PX', LEASE_MS);
  try {
    const written = await store.write(OWNER_A, from.read(manifest), () => ({ rawBytes: manifest.rawBytes, files: manifest.files }));
    return await memoryUsage(redis, generationKeys(keys, written));
  } finally {
    await store.clear(OWNER_A);
    await redis.del(keys.lease);
  }
}

const generationKeys = (keys: SessionKeys, manifest: BackupManifest): string[] => [
  keys.storeGeneration(manifest.generation),
  ...Array.from({ length: manifest.chunks }, (_unused, i) => keys.storeChunk(manifest.generation, i)),
];

async function* replay(chunks: readonly Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
}

const elapsed = async (body: () => Promise<unknown>): Promise<number> => {
  const started = performance.now();
  await body();
  return performance.now() - started;
};

/** Every side's backup and restore of `profile`, `runs` times, the order rotated each run. */
async function measureProfile(profile: Profile, root: string, redis: RedisClient, prefix: string, runs: number, log: (line: string) => void): Promise<Measured> {
  const work = path.join(root, `${profile.label.replaceAll(/\W+/g, '-')}-work`);
  await mkdir(work, { recursive: true });
  const keys = sessionKeys({ prefix, sessionId: SESSION });
  const store = new SessionStore(redis, keys, SESSION, { chunkBytes: STORE_CHUNK_BYTES });
  const recorder = recordingLogger();
  const backupOptions = { store, logger: recorder.logger, intervalMs: 3_600_000, firstDelayMs: 3_600_000, warnBytes: Number.MAX_SAFE_INTEGER };
  const hostA = new ProfileBackup({ ...backupOptions, profile: new SessionProfile(profile.sessionDir, SESSION, recorder.logger), workerId: OWNER_A });
  const profileB = new SessionProfile(path.join(work, 'waq-b'), SESSION, recorder.logger);
  const hostB = new ProfileBackup({ ...backupOptions, profile: profileB, workerId: OWNER_B });

  const remoteStore = new LocalDiskStore(path.join(work, 'remote-store'), profile.sessionDir);
  await mkdir(path.join(work, 'remote-store'), { recursive: true });
  const remoteA = new wwebjs.RemoteAuth({ store: remoteStore, clientId: SESSION, dataPath: profile.sessionDir, backupSyncIntervalMs: 60_000 });
  // What beforeBrowserInitialized() sets before it restores; set by hand on the source host, whose
  // restore would start by deleting the profile (RemoteAuth's extractRemoteSession removes userDataDir).
  Object.assign(remoteA, { userDataDir: profile.dir, sessionName: `RemoteAuth-${SESSION}` } satisfies Omit<RemoteAuthInternals, 'storeRemoteSession'>);
  const remoteDataB = path.join(work, 'remote-b');
  const remoteProfileB = path.join(remoteDataB, `RemoteAuth-${SESSION}`);
  // Host B's dataPath exists (RemoteAuth extracts the zip into it before it creates the profile).
  await mkdir(remoteDataB, { recursive: true });

  const archiveFile = path.join(work, 'file-store', `${SESSION}.tar.gz`);
  await mkdir(path.dirname(archiveFile), { recursive: true });
  const fileCopy = path.join(work, 'file-copy');
  const fileProfileB = path.join(work, 'file-b', `session-${SESSION}`);

  const expected = await databasesOf(profile.dir);
  const r: Runs = { waqBackup: [], waqRestore: [], waqRead: [], waqUnpack: [], remoteBackup: [], remoteRestore: [], remoteReturned: [], fileBackup: [], fileRestore: [] };
  let manifest: BackupManifest | null = null;
  const sides = {
    async waq(): Promise<void> {
      await redis.set(keys.lease, OWNER_A, 'PX', LEASE_MS);
      let written: BackupManifest | null = null;
      r.waqBackup.push(
        await elapsed(async () => {
          written = await hostA.backup('periodic');
        }),
      );
      if (written === null) throw new Error(`store: the waq backup of the ${profile.label} profile failed: ${recorder.last()}`);
      const current: BackupManifest = written;
      manifest = current;
      // Takeover: the lease moves to host B, which has no profile.
      await redis.set(keys.lease, OWNER_B, 'PX', LEASE_MS);
      await profileB.remove();
      let outcome: Awaited<ReturnType<ProfileBackup['restore']>> | undefined;
      r.waqRestore.push(
        await elapsed(async () => {
          outcome = await hostB.restore();
        }),
      );
      if (outcome?.kind !== 'restored' || outcome.generation !== current.generation) throw new Error(`store: waq restored ${JSON.stringify(outcome)}, expected generation ${current.generation}: ${recorder.last()}`);
      await assertRestored(expected, profileB.dir, 'waq');
      // Where the restore's time goes: the same read alone (GETs + SHA-256), then the unpack from memory.
      const chunks: Buffer[] = [];
      r.waqRead.push(
        await elapsed(async () => {
          for await (const chunk of store.read(current)) chunks.push(chunk);
        }),
      );
      const scratch = path.join(work, 'unpack-scratch');
      await rm(scratch, { recursive: true, force: true });
      r.waqUnpack.push(await elapsed(() => unpackArchive(replay(chunks), scratch)));
      await rm(scratch, { recursive: true, force: true });
    },
    async remote(): Promise<void> {
      r.remoteBackup.push(await elapsed(() => (remoteA as unknown as RemoteAuthInternals).storeRemoteSession()));
      await rm(remoteProfileB, { recursive: true, force: true });
      const remoteB = new wwebjs.RemoteAuth({ store: remoteStore, clientId: SESSION, dataPath: remoteDataB, backupSyncIntervalMs: 60_000 });
      // beforeBrowserInitialized() reads and extends the client's puppeteer options; nothing else of the client.
      remoteB.setup({ options: { puppeteer: {} } } as unknown as wwebjs.Client);
      const started = performance.now();
      await remoteB.beforeBrowserInitialized();
      r.remoteReturned.push(performance.now() - started);
      // RemoteAuth resolves on the unzipper Extract's 'finish', which is its input read to the end, not
      // its files written ('close', unzipper 0.12.3): the restore is done when the files are there.
      await pollUntil(async () => (await missingFrom(expected, remoteProfileB)) === '', { timeoutMs: 120_000, intervalMs: 2, what: 'RemoteAuth\'s unzip to finish writing the profile' });
      r.remoteRestore.push(performance.now() - started);
    },
    async file(): Promise<void> {
      r.fileBackup.push(
        await elapsed(async () => {
          await rm(fileCopy, { recursive: true, force: true });
          for (const entry of BACKED_UP) {
            const from = path.join(profile.dir, entry);
            if (await access(from).then(() => true, () => false)) await cp(from, path.join(fileCopy, entry), { recursive: true, force: true, errorOnExist: false });
          }
          await pipeline(Readable.from(packStaged(fileCopy)), createWriteStream(archiveFile));
          await rm(fileCopy, { recursive: true, force: true });
        }),
      );
      await rm(fileProfileB, { recursive: true, force: true });
      r.fileRestore.push(await elapsed(() => unpackArchive(createReadStream(archiveFile), fileProfileB)));
      await assertRestored(expected, fileProfileB, 'the local tar.gz');
    },
  };
  const names = ['waq', 'remote', 'file'] as const;
  for (let run = 0; run < runs; run += 1) {
    const order = names.map((_name, i) => names[(i + run) % names.length]!);
    for (const side of order) await sides[side]();
    const last = (values: number[]): string => fmt(values.at(-1) ?? 0, 0);
    log(
      `store ${profile.label} run ${run + 1}/${runs}: waq backup ${last(r.waqBackup)} ms, restore ${last(r.waqRestore)} ms; RemoteAuth zip ${last(r.remoteBackup)} / ${last(r.remoteRestore)} ms (returned at ${last(r.remoteReturned)}); tar.gz file ${last(r.fileBackup)} / ${last(r.fileRestore)} ms`,
    );
  }
  if (manifest === null) throw new Error('store: no run');
  const final: BackupManifest = manifest;
  // A session keeps the current and the previous generation: one more backup (not timed) when a single run left one.
  if ((await store.state()).previous === null) {
    await redis.set(keys.lease, OWNER_A, 'PX', LEASE_MS);
    if ((await hostA.backup('periodic')) === null) throw new Error(`store: the waq backup of the ${profile.label} profile failed: ${recorder.last()}`);
  }
  const { current, previous } = await store.state();
  if (current === null || previous === null) throw new Error('store: expected a current and a previous backup in the store');
  const backupMemory = await memoryUsage(redis, generationKeys(keys, current));
  const sessionMemory = await memoryUsage(redis, [keys.store, keys.storeGenerations, ...generationKeys(keys, current), ...generationKeys(keys, previous)]);
  const roundMemory = await memoryWithChunks(redis, prefix, store, current, ROUND_CHUNK_BYTES);
  const fileBytes = (await stat(archiveFile)).size;

  // Not measured: this profile's backups and copies go before the next profile's.
  await redis.set(keys.lease, OWNER_B, 'PX', LEASE_MS);
  await store.clear(OWNER_B);
  await redis.del(keys.lease);
  await rm(work, { recursive: true, force: true });
  return {
    profile,
    waqBackup: summarize(r.waqBackup),
    waqRestore: summarize(r.waqRestore),
    waqRead: summarize(r.waqRead),
    waqUnpack: summarize(r.waqUnpack),
    remoteBackup: summarize(r.remoteBackup),
    remoteRestore: summarize(r.remoteRestore),
    remoteReturned: summarize(r.remoteReturned),
    fileBackup: summarize(r.fileBackup),
    fileRestore: summarize(r.fileRestore),
    manifest: final,
    zipBytes: remoteStore.lastBytes,
    fileBytes,
    backupMemory,
    sessionMemory,
    roundMemory,
  };
}

const COUNT_WORDS: readonly string[] = ['No', 'One', 'Two', 'Three', 'Four', 'Five', 'Six'];
const ms = (s: Summary): string => `${fmtSummary(s, 0)} ms`;
const mb = (bytes: number): string => (bytes >= MB ? `${fmt(bytes / MB, 1)} MB` : `${fmt(bytes / 1024, 0)} KB`);
const ratio = (a: Summary, b: Summary): number => a.median / b.median;

export async function storeCase(options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const { sizesMB, runs } = options.store;
  const chromium = resolveChromium().executablePath;
  const root = await mkdtemp(path.join(tmpdir(), 'waq-bench-store-'));
  const prefix = benchPrefix('store');
  const redis = createRedis({ url: options.redisUrl, role: 'consumer', name: 'bench-store' });
  const measured: Measured[] = [];
  try {
    const simDir = path.join(root, 'simulator');
    await simulatorProfile(simDir, path.join(root, 'sim-cache'), recordingLogger().logger);
    const simTree = await sizeOf(path.join(simDir, `session-${SESSION}`));
    const simulator: Profile = { label: 'simulator', dir: path.join(simDir, `session-${SESSION}`), sessionDir: simDir, files: simTree.files, bytes: simTree.bytes, padFiles: 0 };
    log(`store: simulator profile paired, ${simTree.files} files, ${mb(simTree.bytes)} backed up`);
    measured.push(await measureProfile(simulator, root, redis, prefix, runs, log));
    for (const size of sizesMB) {
      const padded = await paddedProfile(simulator, `${size} MB`, path.join(root, `padded-${size}`), size * MB);
      log(`store: ${padded.label} profile, ${padded.files} files, ${mb(padded.bytes)}`);
      measured.push(await measureProfile(padded, root, redis, prefix, runs, log));
      await rm(padded.sessionDir, { recursive: true, force: true });
    }
  } finally {
    await deletePrefix(redis, prefix);
    await redis.quit().catch(() => redis.disconnect());
    await rm(root, { recursive: true, force: true });
  }

  const atTarget = measured[1];
  if (atTarget === undefined) throw new Error('store: BENCH_STORE_SIZES_MB is empty');
  const largest = measured.at(-1)!;
  const targetRatio = ratio(atTarget.waqRestore, atTarget.remoteRestore);
  const met = targetRatio < TARGET_RATIO;

  const profileRows = measured.map((m) => [
    m.profile.label,
    `${m.profile.files}${m.profile.padFiles > 0 ? ` (${m.profile.padFiles} of padding)` : ''}`,
    mb(m.profile.bytes),
    `${mb(m.manifest.bytes)} (${m.manifest.chunks} chunk${m.manifest.chunks === 1 ? '' : 's'})`,
    mb(m.zipBytes),
  ]);
  const backupRows = measured.map((m) => [m.profile.label, ms(m.waqBackup), ms(m.remoteBackup), ms(m.fileBackup), `${fmt(ratio(m.waqBackup, m.remoteBackup), 2)}×`, `${fmt(ratio(m.waqBackup, m.fileBackup), 2)}×`]);
  const restoreRows = measured.map((m) => [m.profile.label, ms(m.waqRestore), ms(m.remoteRestore), ms(m.fileRestore), `${fmt(ratio(m.waqRestore, m.remoteRestore), 2)}×`, `${fmt(ratio(m.waqRestore, m.fileRestore), 2)}×`]);
  const splitRows = measured.map((m) => [m.profile.label, ms(m.waqRestore), ms(m.waqRead), ms(m.waqUnpack)]);
  const memoryRows = measured.map((m) => [
    m.profile.label,
    mb(m.manifest.bytes),
    `${mb(m.backupMemory)} (${fmt(m.backupMemory / m.manifest.bytes, 2)}×)`,
    `${mb(m.roundMemory)} (${fmt(m.roundMemory / m.manifest.bytes, 2)}×)`,
    mb(m.sessionMemory),
    `${mb(m.zipBytes)} zip, ${mb(m.fileBytes)} tar.gz`,
  ]);
  const body = [
    `${COUNT_WORDS[measured.length] ?? measured.length} profiles, each backed up and restored ${runs} time(s) per side, the order of the sides rotated each run, all in this process`,
    'against the same disk (the temp dir) and the same Redis (`REDIS_URL`, a unique prefix). A restore goes to another directory that',
    'has no profile ("another host"); every restore is checked to hold the source\'s IndexedDB and Local Storage file for file (not timed).',
    '',
    `- **simulator**: the profile a plain whatsapp-web.js client leaves after pairing with the simulator in real Chromium (\`${chromium}\`),`,
    `  ${SIM_SENDS} sends and a graceful \`destroy()\`.`,
    `- **${sizesMB.map((s) => `${s} MB`).join('**, **')}**: a copy of it with its IndexedDB padded to that size with ${fmt(PAD_FILE_BYTES / MB, 0)} MB table files`,
    `  (\`${IDB_DIR}/100001.ldb\`, …), each 64 KiB block half random bytes (LevelDB keeps snappy-compressed blocks and WhatsApp`,
    '  keeps encrypted blobs: incompressible) and half message-like JSON records with running ids (compressible).',
    '',
    'Sides:',
    '',
    '- **waq**: `ProfileBackup.backup()` on host A (lease held by A): hot copy into a staging dir with its file-set check, gzip\'d tar',
    `  (\`packStaged\`), ${fmt(STORE_CHUNK_BYTES, 0)} B chunks (1 MiB − 64 B) written by the lease-fenced script, commit. Restore: the lease moves to B,`,
    '  `ProfileBackup.restore()` on B: store state, chunks read with the size and SHA-256 check, unpacked into a side dir, swapped in.',
    '- **RemoteAuth zip** (baseline): whatsapp-web.js\'s own `RemoteAuth` (`storeRemoteSession()`: copy of `Default/IndexedDB` and',
    '  `Default/Local Storage` to a temp dir, `archiver` zip to `<dataPath>/RemoteAuth-bench.zip`, `store.save`, temp and zip deleted;',
    '  restore `beforeBrowserInitialized()`: `store.extract` to a zip file, `unzipper` extract, zip deleted) with a store that is a',
    '  directory on the local disk: `save` renames the zip into it, `extract` hard-links it back. The store moves no byte, so this is',
    '  RemoteAuth\'s archive to a local file and back.',
    '- **tar.gz file**: waq\'s own archive code (`packStaged` / `unpackArchive`) to and from a local file, after a plain copy of the same',
    '  directories, no Redis: the same bytes as the store holds, so the difference to waq is what the store adds.',
    '',
    table(['Profile', 'Files backed up', 'Size backed up', 'waq archive (gzip\'d tar)', 'RemoteAuth zip'], profileRows),
    '',
    '**Backup** (median, min–max):',
    '',
    table(['Profile', 'waq → Redis', 'RemoteAuth → zip file', 'tar.gz → file', 'waq / RemoteAuth', 'waq / tar.gz file'], backupRows),
    '',
    '**Restore on takeover** (median, min–max):',
    '',
    table(['Profile', 'waq ← Redis', 'RemoteAuth ← zip file', 'tar.gz ← file', 'waq / RemoteAuth', 'waq / tar.gz file'], restoreRows),
    '',
    `Target: waq's restore under ${TARGET_RATIO}× the local RemoteAuth restore at ${atTarget.profile.label}: **${met ? 'met' : 'missed'}** (${fmt(targetRatio, 2)}×; ${fmt(atTarget.waqRestore.median, 0)} ms against ${fmt(atTarget.remoteRestore.median, 0)} ms).` +
      ` Against waq's own format from a local file it is ${fmt(ratio(atTarget.waqRestore, atTarget.fileRestore), 2)}× (${fmt(atTarget.fileRestore.median, 0)} ms).` +
      ` RemoteAuth's restore is timed until its files are all written (polled every 2 ms): its promise resolves earlier, on the unzipper` +
      ` Extract's \`finish\` (its input read, unzipper 0.12.3), not on \`close\` (its files written) — at ${atTarget.profile.label} after ${fmt(atTarget.remoteReturned.median, 0)} ms,` +
      ' so a RemoteAuth client can launch Chromium on a profile still being written.',
    '',
    '**Where waq\'s restore time goes**: after each restore, the same generation read again alone (chunk GETs in order with the',
    'SHA-256), then unpacked from memory into an empty dir (gunzip + untar + file writes). The restore streams the one into the',
    'other, so the two need not add up to it.',
    '',
    table(['Profile', 'Whole restore', 'Redis read + SHA-256', 'Unpack'], splitRows),
    '',
    '**Redis memory per session**: `MEMORY USAGE` summed over the keys of a backup (its manifest hash and chunk strings) after the last',
    'run, and over every key of the session\'s store (index hash, generation set, the current and the previous generation: what a',
    'session keeps). Not the `INFO used_memory` delta: this Redis is shared with other runs, so the delta would not be this session\'s alone.',
    `The fourth column stores the same archive once more in chunks of exactly ${fmt(ROUND_CHUNK_BYTES, 0)} B instead of the store's ${fmt(STORE_CHUNK_BYTES, 0)} B (1 MiB − 64 B):`,
    'jemalloc, Redis\'s allocator, has size classes of 1 MiB and 1.25 MiB, and a string of exactly 1 MiB plus its header takes the larger.',
    '',
    table(['Profile', 'Archive', 'One backup (1 MiB − 64 B chunks, as stored)', 'Same archive, exactly 1 MiB chunks', 'Session (current + previous + index)', 'Local file'], memoryRows),
  ].join('\n');

  const verdicts: Verdict[] = [
    {
      metric: `restore on takeover, ${atTarget.profile.label} profile`,
      waq: `${fmt(atTarget.waqRestore.median, 0)} ms`,
      baseline: `${fmt(atTarget.remoteRestore.median, 0)} ms (RemoteAuth zip, local file)`,
      ratio: `${fmt(targetRatio, 2)}×`,
      target: `< ${TARGET_RATIO}×`,
      met,
    },
    {
      metric: `backup, ${atTarget.profile.label} profile`,
      waq: `${fmt(atTarget.waqBackup.median, 0)} ms`,
      baseline: `${fmt(atTarget.remoteBackup.median, 0)} ms (RemoteAuth zip, local file)`,
      ratio: `${fmt(ratio(atTarget.waqBackup, atTarget.remoteBackup), 2)}×`,
      target: '— (reported)',
      met: undefined,
    },
    {
      metric: `restore on takeover, ${largest.profile.label} profile`,
      waq: `${fmt(largest.waqRestore.median, 0)} ms`,
      baseline: `${fmt(largest.remoteRestore.median, 0)} ms (RemoteAuth zip, local file)`,
      ratio: `${fmt(ratio(largest.waqRestore, largest.remoteRestore), 2)}×`,
      target: '— (reported)',
      met: undefined,
    },
    {
      metric: `Redis memory per session, ${atTarget.profile.label} profile (current + previous backup)`,
      waq: mb(atTarget.sessionMemory),
      baseline: `${mb(atTarget.zipBytes)} (zip on disk, one copy)`,
      ratio: `${fmt(atTarget.sessionMemory / atTarget.zipBytes, 2)}×`,
      target: '— (reported)',
      met: undefined,
    },
  ];
  return { title: '11. Session store: backup and restore through Redis (SESSION_STORE=redis)', body, verdicts };
}
