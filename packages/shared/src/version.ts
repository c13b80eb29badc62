import { readFileSync } from 'node:fs';

/** waq's version (the root package.json), on every log line and in /healthz. Read relative to this
 * file, which sits three levels below the repository root both as source (src/) and as build (dist/). */
export const WAQ_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
