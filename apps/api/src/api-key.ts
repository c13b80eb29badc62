/**
 * The API key: API_KEY when configured, else the key stored in `<DATA_DIR>/api-key`, else a new one
 * generated on this first start, stored there (mode 0600) and printed once on stderr.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { API_KEY_MIN_LENGTH, ConfigError } from '@waq/shared';

export type ApiKeySource = 'env' | 'file' | 'generated';

export interface ResolvedApiKey {
  readonly key: string;
  readonly source: ApiKeySource;
  /** Where the key is stored, when it comes from a file. */
  readonly file?: string;
}

export async function resolveApiKey(configured: string | undefined, dataDir: string): Promise<ResolvedApiKey> {
  if (configured !== undefined) return { key: configured, source: 'env' };
  const file = path.resolve(dataDir, 'api-key');
  const stored = await readKeyFile(file);
  if (stored !== undefined) return { key: stored, source: 'file', file };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = `waq_${randomBytes(24).toString('base64url')}`;
  try {
    // `wx`: if another process created the file since we looked, keep its key rather than ours.
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const existing = (error as NodeJS.ErrnoException).code === 'EEXIST' ? await readKeyFile(file) : undefined;
    if (existing === undefined) throw error;
    return { key: existing, source: 'file', file };
  }
  return { key, source: 'generated', file };
}

async function readKeyFile(file: string): Promise<string | undefined> {
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (key.length < API_KEY_MIN_LENGTH) {
      const message = `${file} holds no usable API key (shorter than ${API_KEY_MIN_LENGTH} characters): delete the file to have a new key generated, or set API_KEY`;
      throw new ConfigError([{ variable: 'API_KEY', message }]);
    }
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
