// @ts-check
/**
 * A problem a person must fix (missing tool, port in use, bad variable). The scripts print its message
 * (which says what is wrong and what to do) without a stack trace and exit non-zero.
 */
export class UserError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'UserError';
  }
}
