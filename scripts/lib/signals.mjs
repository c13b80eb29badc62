// @ts-check
/**
 * Stop signals: the first SIGINT/SIGTERM/SIGHUP asks for a graceful stop, the next one forces.
 *
 * Ctrl+C in a terminal goes to the whole foreground process group, and a wrapper (npm, pnpm) may
 * forward it to us again: a repeat within `DUPLICATE_MS` of the first counts as the same Ctrl+C.
 */
const DUPLICATE_MS = 250;

/**
 * @param {{ graceful: (signal: NodeJS.Signals) => void, force: (signal: NodeJS.Signals) => void }} handlers
 */
export function onStopSignals({ graceful, force }) {
  let firstAt = 0;
  /** @param {NodeJS.Signals} signal */
  const handle = (signal) => {
    const now = Date.now();
    if (firstAt === 0) {
      firstAt = now;
      graceful(signal);
    } else if (now - firstAt >= DUPLICATE_MS) {
      force(signal);
    }
  };
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) process.on(signal, handle);
}

/** @type {Partial<Record<NodeJS.Signals, number>>} */
const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * The exit code a shell reports for death by `signal` (128 + signo).
 * @param {NodeJS.Signals} signal
 */
export function signalExitCode(signal) {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 0);
}
