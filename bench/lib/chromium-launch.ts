/**
 * The Chromium binaries and launch variants the Chromium cases measure, and a private copy of
 * chromium-headless-shell for the memory cases.
 */
import { access, chmod, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Debian's wrappers (`sh -e` scripts that run the binaries under /usr/lib/chromium). */
export const SHELL = '/usr/bin/chromium-headless-shell';
export const CHROMIUM = '/usr/bin/chromium';
const DEBIAN_LIB = '/usr/lib/chromium';

/** The worker's CHROMIUM_CONSOLIDATED flags, measured as a variant of the plain client too (case 4). */
export { CONSOLIDATED_CHROMIUM_ARGS as CONSOLIDATING_FLAGS } from '../../apps/worker/src/driver/whatsapp-client-options.js';

export interface PrivateShell {
  /** CHROMIUM_PATH / chromiumPath of the copy (named `chromium-headless-shell`: puppeteer `headless: 'shell'`). */
  readonly path: string;
  /** False when there was no Debian layout to copy: then both are plain wrappers around {@link SHELL}. */
  readonly private: boolean;
}

/**
 * A private copy of Debian's chromium-headless-shell (the binary and its resources, about 270 MB) with
 * a wrapper, for the memory cases. PSS splits a file's pages between every process on the machine
 * that maps them: other test runs' Chromiums of the same binary — and the ones they leaked, which never
 * go — would take their share of the binary's pages and lower the measured trees' PSS. A copy is
 * another file with its own page cache, so the measured trees share its pages only among themselves,
 * as on a host that runs waq alone. The wrapper runs the copy the way Debian's does (`sh -e`, no
 * `exec`), so the process tree has the same shape (an `sh` above the browser).
 */
export async function privateHeadlessShell(dir: string): Promise<PrivateShell> {
  const binary = path.join(dir, 'lib', 'chromium-headless-shell');
  let copied = true;
  try {
    await access(path.join(DEBIAN_LIB, 'chromium-headless-shell'));
    // Everything but the full browser's own binary (it is not run from here).
    await cp(DEBIAN_LIB, path.join(dir, 'lib'), { recursive: true, filter: (source) => source !== path.join(DEBIAN_LIB, 'chromium') });
  } catch {
    copied = false;
  }
  const target = copied ? binary : SHELL;
  const file = path.join(dir, 'default', 'chromium-headless-shell');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh -e\n\n${target} "$@"\n`);
  await chmod(file, 0o755);
  return { path: file, private: copied };
}
