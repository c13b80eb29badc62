// @ts-check
/** Where things are: the repository root and the paths the scripts share. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Absolute path of the repository root (every child process runs there). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A path as a person would type it from the repository root: relative when inside it.
 * @param {string} absolute
 */
export function shown(absolute) {
  const relative = path.relative(ROOT, absolute);
  return relative === '' ? '.' : relative.startsWith('..') || path.isAbsolute(relative) ? absolute : relative;
}

/**
 * Resolves a path given in the environment (relative ones are relative to the repository root, like the
 * apps' own `DATA_DIR` / `SESSION_DIR`, which run with the root as cwd).
 * @param {string} value
 */
export function fromRoot(value) {
  return path.resolve(ROOT, value);
}
