// @ts-check
/**
 * Programs waq needs from the operating system (Chromium, redis-server, docker-compose, promtool). When
 * one is missing and we run as root on Debian/Ubuntu, all missing ones are installed with a single
 * `apt-get update` + `apt-get install`; otherwise the message says what to install or which variable to set.
 */
import { spawn } from 'node:child_process';

import { UserError } from './errors.mjs';
import { isRoot, which } from './executables.mjs';

/**
 * @typedef {object} Requirement
 * @property {string} name            what a person calls it ("Chromium")
 * @property {string[]} packages      Debian packages that provide it
 * @property {() => string | undefined} find  its path, or undefined when missing
 * @property {string} help            what to do when it is missing and we cannot install it
 * @property {'error' | 'warn'} [whenMissing]  `warn`: carry on without it (default `error`)
 * @property {boolean} [noRecommends] install with `--no-install-recommends` (docker-compose would pull docker.io)
 */

/**
 * Makes sure every requirement is present; returns name → path of those found.
 * @param {Requirement[]} requirements
 * @param {import('./log.mjs').Log} log
 * @returns {Promise<Map<string, string>>}
 */
export async function ensureSystemPackages(requirements, log) {
  const found = new Map();
  const missing = [];
  for (const requirement of requirements) {
    const location = requirement.find();
    if (location) found.set(requirement.name, location);
    else missing.push(requirement);
  }
  if (missing.length === 0) return found;

  const names = missing.map((r) => r.name).join(', ');
  if (isRoot && which('apt-get')) {
    log.info(`${names} not found: installing ${missing.flatMap((r) => r.packages).join(' ')} with apt-get (running as root)`);
    // Two groups, each tried even when the other fails: what can be installed is installed.
    const groups = [missing.filter((r) => !r.noRecommends), missing.filter((r) => r.noRecommends)];
    try {
      await run('apt-get', ['update']);
      for (const [index, group] of groups.entries()) {
        if (group.length === 0) continue;
        const flags = index === 0 ? ['-y'] : ['-y', '--no-install-recommends'];
        await run('apt-get', ['install', ...flags, ...group.flatMap((r) => r.packages)]).catch((/** @type {Error} */ error) =>
          log.error(`apt-get failed: ${error.message}`),
        );
      }
    } catch (error) {
      log.error(`apt-get failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const problems = [];
  for (const requirement of missing) {
    const location = requirement.find();
    if (location) {
      found.set(requirement.name, location);
      continue;
    }
    const why = isRoot ? 'could not be installed with apt-get' : 'is not installed (and this is not root, so it is not installed automatically)';
    const message = `${requirement.name} ${why}.\n${requirement.help}`;
    if (requirement.whenMissing === 'warn') log.warn(message);
    else problems.push(message);
  }
  if (problems.length > 0) throw new UserError(problems.join('\n'));
  return found;
}

/**
 * @param {string} command
 * @param {string[]} args
 * @returns {Promise<void>}
 */
function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`\`${command} ${args.join(' ')}\` exited with ${signal ?? `code ${code}`}`));
    });
  });
}
