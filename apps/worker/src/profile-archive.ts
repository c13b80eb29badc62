/**
 * The backup of a session profile: the part of the Chromium profile a session needs to restore without
 * a QR, as a gzip'd tar stream for the session store, and its way back into a profile directory.
 *
 * What goes in (`BACKED_UP`): `Default/IndexedDB` and `Default/Local Storage` — where WhatsApp Web keeps
 * its keys and the session, whatsapp-web.js RemoteAuth's list too — and waq's own marker files. Caches,
 * service-worker storage and the rest are left out: Chromium and WhatsApp Web rebuild them. The restore
 * tests (profile-archive.e2e.test.ts) start a session from nothing but these.
 *
 * A hot copy: Chromium keeps writing while the session is READY. Both stores are LevelDB databases,
 * and a copy of one is as good as its files after a crash (LevelDB takes a log cut off at its end for
 * the end of the log; Chromium reopens such a profile after a kill -9) provided no file came or went
 * during the copy — a compaction writes new tables and deletes old ones, and a copy that saw half of it
 * would name tables it does not hold. So the files are copied into a staging directory first, the file
 * names compared before and after, and the copy repeated while they changed; the archive is made from
 * the staging copy, which nothing writes to.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { ArchiveSummary } from '@waq/shared';
import * as tar from 'tar';

import { SAVED_SESSION_MARKER } from './profile.js';

/** What a backup holds, relative to the profile directory (the ones that exist). */
export const BACKED_UP = ['Default/IndexedDB', 'Default/Local Storage', SAVED_SESSION_MARKER] as const;

/** How often a copy is repeated while Chromium keeps changing the files under it. */
const STAGE_ATTEMPTS = 5;

export class ProfileChangingError extends Error {
  override readonly name = 'ProfileChangingError';
  constructor(attempts: number) {
    super(`the profile's databases changed during each of ${attempts} copies (Chromium compacting them): the backup was not made, the next one will try again`);
  }
}

interface Listing {
  readonly names: string;
  readonly files: number;
  readonly bytes: number;
}

/** Every file under `dir` (relative, sorted) with the total size. */
async function list(dir: string, roots: readonly string[]): Promise<Listing> {
  const names: string[] = [];
  let bytes = 0;
  const walk = async (relative: string): Promise<void> => {
    const absolute = path.join(dir, relative);
    let stat;
    try {
      stat = await fs.lstat(absolute);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (stat.isDirectory()) {
      for (const entry of (await fs.readdir(absolute).catch(() => [] as string[])).sort()) await walk(path.join(relative, entry));
    } else if (stat.isFile()) {
      names.push(relative);
      bytes += stat.size;
    }
  };
  for (const root of roots) await walk(root);
  return { names: names.join('\n'), files: names.length, bytes };
}

/** Copies what a backup holds from `profileDir` into `stagingDir` (emptied first), as one consistent set of files. */
export async function stageProfile(profileDir: string, stagingDir: string): Promise<ArchiveSummary> {
  for (let attempt = 1; attempt <= STAGE_ATTEMPTS; attempt += 1) {
    await fs.rm(stagingDir, { recursive: true, force: true });
    await fs.mkdir(stagingDir, { recursive: true });
    const before = await list(profileDir, BACKED_UP);
    let vanished = false;
    for (const root of BACKED_UP) {
      try {
        await fs.cp(path.join(profileDir, root), path.join(stagingDir, root), { recursive: true, force: true, errorOnExist: false, preserveTimestamps: true });
      } catch (error) {
        // A file deleted between the listing and its copy: a compaction ran, copy again.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        vanished = true;
      }
    }
    const after = await list(profileDir, BACKED_UP);
    if (!vanished && after.names === before.names) {
      const staged = await list(stagingDir, BACKED_UP);
      return { files: staged.files, rawBytes: staged.bytes };
    }
  }
  throw new ProfileChangingError(STAGE_ATTEMPTS);
}

/** The gzip'd tar of a staged copy (portable: no owners or times of the host in the headers). */
export async function* packStaged(stagingDir: string): AsyncGenerator<Buffer> {
  const present: string[] = [];
  for (const entry of BACKED_UP) {
    if (await fs.access(path.join(stagingDir, entry)).then(() => true, () => false)) present.push(entry);
  }
  if (present.length === 0) throw new Error(`nothing to back up in ${stagingDir}: the profile has no ${BACKED_UP.join(', ')}`);
  for await (const chunk of tar.c({ gzip: true, cwd: stagingDir, portable: true }, present)) yield Buffer.from(chunk as Uint8Array);
}

/** Unpacks an archive (chunks in order) into `targetDir`, which must not exist yet. */
export async function unpackArchive(chunks: AsyncIterable<Buffer>, targetDir: string): Promise<void> {
  await fs.mkdir(targetDir, { recursive: true });
  await pipeline(Readable.from(chunks), tar.x({ cwd: targetDir, strict: true }));
}
