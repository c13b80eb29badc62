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

/** Process-consolidation flags measured as a variant (see case 4's description of it). */
export const CONSOLIDATING_FLAGS = ['--no-zygote', '--in-process-gpu', '--enable-features=NetworkServiceInProcess2'];

export interface PrivateShell {
  /** CHROMIUM_PATH / chromiumPath of the copy (named `chromium-headless-shell`: puppeteer `headless: 'shell'`). */
  readonly path: string;
  /** The same copy with {@link CONSOLIDATING_FLAGS} appended to every launch (for the worker, whose flags stay as they are). */
  readonly consolidated: string;
  /** False when there was no Debian layout to copy: then both are plain wrappers around {@link SHELL}. */
  readonly private: boolean;
}

/**
 * A private copy of Debian's chromium-headless-shell (the binary and its resources, about 270 MB) with
 * two wrappers, for the memory cases. PSS splits a file's pages between every process on the machine
 * that maps them: other test runs' Chromiums of the same binary — and the ones they leaked, which never
 * go — would take their share of the binary's pages and lower the measured trees' PSS. A copy is
 * another file with its own page cache, so the measured trees share its pages only among themselves,
 * as on a host that runs waq alone. Each wrapper runs the copy the way Debian's does (`sh -e`, no
 * `exec`), so the process tree has the same shape (an `sh` above the browser).
 *
 * The consolidated wrapper appends the flags after puppeteer's. Chromium keeps the last value of a
 * switch, so its `--enable-features` replaces puppeteer 24's own: it repeats puppeteer's default
 * feature (`PdfOopif`).
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
  const flags = CONSOLIDATING_FLAGS.map((flag) => flag.replace(/^--enable-features=/, '--enable-features=PdfOopif,'));
  const write = async (name: string, extra: readonly string[]): Promise<string> => {
    const file = path.join(dir, name, 'chromium-headless-shell');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `#!/bin/sh -e\n\n${[target, '"$@"', ...extra].join(' ')}\n`);
    await chmod(file, 0o755);
    return file;
  };
  return { path: await write('default', []), consolidated: await write('consolidated', flags), private: copied };
}
