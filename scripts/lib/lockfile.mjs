// @ts-check
/**
 * A pid file that keeps two `npm start` from running one embedded Redis data directory at once (two
 * redis-servers appending to one AOF corrupt it). A lock whose process is gone is taken over.
 */
import fs from 'node:fs';

import { UserError } from './errors.mjs';

/**
 * @param {string} file
 * @param {string} what  what the lock protects, for the message
 * @returns {() => void} releases the lock
 */
export function acquireLock(file, what) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error;
    }
    const holder = Number(fs.readFileSync(file, 'utf8').trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new UserError(
        `${what} is in use by another process (pid ${holder}), probably another \`npm start\`.\n` +
          `Stop that one first, or give this one its own DATA_DIR. (Lock file: ${file})`,
      );
    }
    fs.rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new UserError(`Could not take the lock ${file}; remove it if no other \`npm start\` is running.`);
}

/** @param {number} pid */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM';
  }
}
