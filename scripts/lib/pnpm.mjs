// @ts-check
/**
 * pnpm without corepack (its signature check fails on fresh Debian machines): the version pinned in the
 * root `packageManager` field, from `PATH` when it is exactly that version, else fetched once by
 * `npx -y -p pnpm@<version>` into npm's cache. Then `pnpm install --frozen-lockfile` when
 * `node_modules` is missing or older than the lockfile.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { UserError } from './errors.mjs';
import { which } from './executables.mjs';
import { ROOT } from './paths.mjs';

/** The pnpm version of the root package.json's `packageManager` ("pnpm@10.18.0[+sha…]"). */
export function pinnedPnpmVersion() {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const match = /^pnpm@(\d+\.\d+\.\d+)/.exec(String(manifest.packageManager ?? ''));
  if (!match?.[1]) throw new UserError('package.json has no "packageManager": "pnpm@x.y.z" field; add it back.');
  return match[1];
}

/**
 * Path of a pnpm executable of the pinned version.
 * @param {import('./log.mjs').Log} log
 * @returns {string}
 */
export function resolvePnpm(log) {
  const version = pinnedPnpmVersion();
  const onPath = which('pnpm');
  if (onPath && versionOf(onPath) === version) return onPath;

  log.info(`pnpm ${version}: not on PATH, using npx (downloaded once, then cached by npm)`);
  try {
    // Run from the temp dir: the repo's .npmrc holds pnpm settings that npm warns about.
    const output = execFileSync('npx', ['-y', '-p', `pnpm@${version}`, '-c', 'command -v pnpm'], {
      cwd: os.tmpdir(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const bin = output.trim().split('\n').pop();
    if (bin && versionOf(bin) === version) return bin;
    throw new Error(`npx returned ${JSON.stringify(output.trim())}`);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new UserError(
      `Could not get pnpm ${version} with \`npx -y pnpm@${version}\`: ${detail}\n` +
        `Check the network access to the npm registry, or install it yourself: npm install -g pnpm@${version}`,
    );
  }
}

/** @param {string} bin */
function versionOf(bin) {
  try {
    return execFileSync(bin, ['--version'], { cwd: os.tmpdir(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** True when `node_modules` is missing or older than `pnpm-lock.yaml`. */
export function installNeeded() {
  const marker = path.join(ROOT, 'node_modules', '.modules.yaml');
  const lockfile = path.join(ROOT, 'pnpm-lock.yaml');
  if (!fs.existsSync(marker)) return true;
  try {
    return fs.statSync(lockfile).mtimeMs > fs.statSync(marker).mtimeMs;
  } catch {
    return true;
  }
}

/**
 * Installs the dependencies exactly as locked, when needed.
 * @param {string} pnpm
 * @param {import('./log.mjs').Log} log
 */
export async function ensureDependencies(pnpm, log) {
  if (!installNeeded()) return;
  log.info('Installing dependencies: pnpm install --frozen-lockfile');
  // confirmModulesPurge=false: without a terminal pnpm would otherwise abort when it has to rebuild
  // node_modules from scratch (e.g. after a pnpm upgrade) instead of just doing it.
  const code = await runPnpm(pnpm, ['install', '--frozen-lockfile', '--config.confirmModulesPurge=false']);
  if (code !== 0) {
    throw new UserError(
      `pnpm install --frozen-lockfile failed (exit code ${code}; its output is above).\n` +
        'If it says the lockfile is out of date, run `pnpm install` and commit pnpm-lock.yaml.',
    );
  }
}

/**
 * @param {string} pnpm
 * @param {string[]} args
 * @returns {Promise<number>}
 */
function runPnpm(pnpm, args) {
  return new Promise((resolve) => {
    const child = spawn(pnpm, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
