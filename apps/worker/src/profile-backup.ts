/**
 * Keeps a session's profile in the session store (SESSION_STORE=redis), so that a worker on another
 * host takes the session over without a QR. LocalAuth stays the auth strategy (the profile is a plain
 * directory Chromium owns); this class syncs that directory around the session's lifecycle, in the
 * owner, where the lease is:
 *
 * - **restore**, once per ownership, before Chromium starts: when the store's current backup is newer
 *   than the local profile (the generation it was restored from or backed up as, in
 *   `.waq-store-generation`), or the profile has no saved session. The archive is unpacked next to the
 *   profile and swapped in only once it passed its checksum; a current backup that fails falls back to
 *   the previous generation, and says so.
 * - **backup** (fenced by the lease, one at a time): `firstDelayMs` after READY, every `intervalMs`
 *   while READY, and on a graceful stop after Chromium has closed (the profile then is what Chromium
 *   flushed) and before the lease is released.
 * - **clear**: a session that was logged out loses its backups with its profile.
 *
 * Why not whatsapp-web.js RemoteAuth: its first save comes 60 s after READY, every save is a zip of the
 * live directories uploaded without any fencing (two workers restoring one session both upload, the
 * last writer wins), and the store gets one blob per session. Here the owner's lease fences every
 * chunk, and a backup is whole or absent.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { BackupCorruptError, BackupFencedError, type BackupManifest, type Logger, type SessionStore } from '@waq/shared';

import { packStaged, stageProfile, unpackArchive } from './profile-archive.js';
import type { SessionProfile } from './profile.js';

const GENERATION_FILE = '.waq-store-generation';

export interface BackupMetrics {
  observeBackup(manifest: BackupManifest, seconds: number): void;
  observeRestore(manifest: BackupManifest, seconds: number): void;
  backupFailed(): void;
}

export interface ProfileBackupOptions {
  readonly store: SessionStore;
  readonly profile: SessionProfile;
  readonly workerId: string;
  readonly logger: Logger;
  /** SESSION_BACKUP_INTERVAL_MS */
  readonly intervalMs: number;
  /** SESSION_BACKUP_DELAY_MS: from READY to the first backup. */
  readonly firstDelayMs: number;
  /** SESSION_BACKUP_WARN_BYTES: a backup larger than this is logged as a warning. */
  readonly warnBytes: number;
  readonly metrics?: BackupMetrics;
}

export type RestoreOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'local'; readonly generation: number }
  | { readonly kind: 'restored'; readonly generation: number; readonly fallback: boolean };

export class ProfileBackup {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<BackupManifest | null> | undefined;
  private stopped = false;

  constructor(private readonly options: ProfileBackupOptions) {}

  private get generationFile(): string {
    return path.join(this.options.profile.dir, GENERATION_FILE);
  }

  /** The store generation the local profile holds, or 0. */
  async localGeneration(): Promise<number> {
    const raw = await fs.readFile(this.generationFile, 'utf8').catch(() => '');
    const generation = Number.parseInt(raw, 10);
    return Number.isFinite(generation) && generation > 0 ? generation : 0;
  }

  /** Brings the store's newest good backup into the profile when it is newer than the local one (see the header). */
  async restore(): Promise<RestoreOutcome> {
    const { store, profile, logger, metrics } = this.options;
    const { current, previous } = await store.state();
    const local = (await profile.hasSavedSession()) ? await this.localGeneration() : -1;
    if (current === null) {
      if (local >= 0) logger.info({ profile: profile.dir }, 'no backup of this session in the store yet: using the local profile');
      return local >= 0 ? { kind: 'local', generation: local } : { kind: 'none' };
    }
    if (local >= current.generation) {
      logger.info({ generation: local }, 'the local profile is as new as the store\'s backup: using it');
      return { kind: 'local', generation: local };
    }
    const started = performance.now();
    for (const [manifest, fallback] of [[current, false], [previous, true]] as const) {
      if (manifest === null) continue;
      try {
        await this.unpack(manifest);
        const seconds = (performance.now() - started) / 1_000;
        metrics?.observeRestore(manifest, seconds);
        const log = fallback ? logger.warn.bind(logger) : logger.info.bind(logger);
        log(
          { generation: manifest.generation, bytes: manifest.bytes, files: manifest.files, ms: Math.round(seconds * 1_000), writtenBy: manifest.worker },
          fallback ? 'restored the session profile from the PREVIOUS backup (the newest one is unusable)' : 'restored the session profile from the store',
        );
        return { kind: 'restored', generation: manifest.generation, fallback };
      } catch (error) {
        if (!(error instanceof BackupCorruptError)) throw error;
        logger.error({ err: error, generation: manifest.generation }, 'a backup of this session is unusable');
      }
    }
    if (local >= 0) {
      logger.error('no usable backup in the store: using the older local profile');
      return { kind: 'local', generation: local };
    }
    logger.error('no usable backup in the store and no local profile: the session needs a new QR');
    return { kind: 'none' };
  }

  private async unpack(manifest: BackupManifest): Promise<void> {
    const { store, profile } = this.options;
    const incoming = `${profile.dir}.restore-${Date.now()}`;
    try {
      await unpackArchive(store.read(manifest), incoming);
      await fs.writeFile(path.join(incoming, GENERATION_FILE), `${manifest.generation}\n`);
      await profile.remove();
      await fs.rename(incoming, profile.dir);
    } finally {
      await fs.rm(incoming, { recursive: true, force: true });
    }
  }

  /** The session became READY: first backup soon, then periodically while it stays READY. */
  onReady(): void {
    this.schedule(this.options.firstDelayMs);
  }

  /** The session left READY: no periodic backups until it is back. */
  onNotReady(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.backup('periodic').finally(() => {
        if (this.timer === undefined) this.schedule(this.options.intervalMs);
      });
    }, delayMs);
  }

  /**
   * Backs the profile up now (after the one running, if any). Resolves with the manifest, or null when
   * it could not be made (logged; a fenced write means another worker owns the session now).
   */
  backup(reason: 'periodic' | 'shutdown'): Promise<BackupManifest | null> {
    const previous = this.running ?? Promise.resolve(null);
    const next = previous.then(() => this.backupOnce(reason));
    this.running = next;
    void next.finally(() => {
      if (this.running === next) this.running = undefined;
    });
    return next;
  }

  private async backupOnce(reason: 'periodic' | 'shutdown'): Promise<BackupManifest | null> {
    const { store, profile, workerId, logger, metrics, warnBytes } = this.options;
    if (!(await profile.hasSavedSession())) return null;
    const staging = `${profile.dir}.backup-${process.pid}`;
    const started = performance.now();
    try {
      const summary = await stageProfile(profile.dir, staging);
      const manifest = await store.write(workerId, packStaged(staging), () => summary);
      await fs.writeFile(this.generationFile, `${manifest.generation}\n`);
      const seconds = (performance.now() - started) / 1_000;
      metrics?.observeBackup(manifest, seconds);
      const fields = { reason, generation: manifest.generation, bytes: manifest.bytes, rawBytes: manifest.rawBytes, files: manifest.files, ms: Math.round(seconds * 1_000) };
      if (manifest.bytes > warnBytes) logger.warn({ ...fields, warnBytes }, 'session backup stored, and it is larger than SESSION_BACKUP_WARN_BYTES');
      else logger.info(fields, 'session backup stored');
      return manifest;
    } catch (error) {
      metrics?.backupFailed();
      if (error instanceof BackupFencedError) logger.warn({ err: error, reason }, 'session backup refused: this worker no longer owns the session');
      else logger.error({ err: error, reason }, 'session backup failed; the previous one stays current');
      return null;
    } finally {
      await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Deletes the session's backups (it was logged out). */
  async clear(): Promise<void> {
    this.onNotReady();
    await this.running;
    await this.options.store.clear(this.options.workerId);
    this.options.logger.info('session backups deleted');
  }

  /** No more backups (the ownership ended); waits for one that is running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.onNotReady();
    await this.running;
  }

}
