// @ts-check
/** Finding programs on this machine without a shell. */
import fs from 'node:fs';
import path from 'node:path';

/** @param {string} file */
export function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Like `command -v`: the first executable `name` on `PATH` (plus the sbin directories, which a non-login
 * root shell may lack and where some Debian packages put their programs).
 * @param {string} name
 * @returns {string | undefined}
 */
export function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
