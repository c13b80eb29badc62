import { readFileSync } from 'node:fs';

/**
 * waq's version, on every log line and in /healthz: the repository's root package.json, or, in a
 * deployed build (`pnpm deploy`, no repository around it), this package's own package.json, which is
 * released with the same version. Both are read relative to this file, which sits at the same depth as
 * source (src/) and as build output (dist/).
 */
export const WAQ_VERSION: string = (() => {
  for (const candidate of ['../../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if ((pkg.name === 'waq' || pkg.name === '@waq/shared') && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not in this layout; try the next.
    }
  }
  return '0.0.0';
})();
