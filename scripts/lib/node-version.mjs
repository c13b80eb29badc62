// @ts-check
/** The Node.js version the repository needs (root package.json `engines.node`: >= 20.19). */
import { UserError } from './errors.mjs';

const [MAJOR, MINOR] = [20, 19];

export function checkNodeVersion() {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < MAJOR || (major === MAJOR && minor < MINOR)) {
    throw new UserError(`Node.js ${process.versions.node} is too old: waq needs ${MAJOR}.${MINOR} or newer. Install a current Node.js 20 or 22 LTS.`);
  }
}
