// @ts-check
/**
 * Console output of the scripts: coloured, padded tags (`[worker]`, `[api]`, `[redis]`, `[start]` …) and
 * line-by-line prefixing of child output. Colours only on a terminal; `NO_COLOR` turns them off,
 * `FORCE_COLOR` on (https://no-color.org).
 */
import readline from 'node:readline';

const COLOURS = /** @type {const} */ ({
  red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, grey: 90, bold: 1,
});
/** @typedef {keyof typeof COLOURS} Colour */

export const useColour = process.env.NO_COLOR
  ? false
  : Boolean(process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') || Boolean(process.stdout.isTTY);

/**
 * @param {Colour} colour
 * @param {string} text
 */
export function paint(colour, text) {
  return useColour ? `\u001b[${COLOURS[colour]}m${text}\u001b[0m` : text;
}

/** Tag width: the longest tag in use, so that log lines line up. */
const TAG_WIDTH = '[worker]'.length;

/** @type {Record<string, Colour>} */
const TAG_COLOURS = { worker: 'magenta', api: 'cyan', redis: 'red', sim: 'yellow', start: 'green', test: 'green' };

/** @param {string} name */
export function tag(name) {
  const text = `[${name}]`.padEnd(TAG_WIDTH);
  return paint(TAG_COLOURS[name] ?? 'blue', text);
}

/**
 * The scripts' own messages, tagged with the script's name. Errors say what is wrong and what to do.
 * @param {string} name
 */
export function createLog(name) {
  const prefix = () => tag(name);
  return {
    /** @param {string} message */
    info(message) {
      for (const line of message.split('\n')) process.stdout.write(`${prefix()} ${line}\n`);
    },
    /** @param {string} message */
    warn(message) {
      for (const line of message.split('\n')) process.stderr.write(`${prefix()} ${paint('yellow', line)}\n`);
    },
    /** @param {string} message */
    error(message) {
      for (const line of message.split('\n')) process.stderr.write(`${prefix()} ${paint('red', line)}\n`);
    },
  };
}
/** @typedef {ReturnType<typeof createLog>} Log */

/**
 * Copies a child's output to ours, one tagged line at a time (stdout to stdout, stderr to stderr).
 * @param {import('node:stream').Readable} stream
 * @param {string} name
 * @param {NodeJS.WriteStream} out
 * @param {(line: string) => void} [onLine] also called with each line (readiness detection)
 */
export function prefixLines(stream, name, out, onLine) {
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    out.write(`${tag(name)} ${line}\n`);
    onLine?.(line);
  });
}

/** @param {number} ms */
export function formatDuration(ms) {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1_000)} s`;
}
