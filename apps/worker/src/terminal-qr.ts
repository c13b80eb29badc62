/**
 * The QR code drawn in the terminal, so a person running the worker by hand can link a phone without
 * opening the status page. Only for people: it is written when logs go to a terminal (pretty format),
 * never into JSON logs, where a QR value would be a credential anyone with log access could use.
 */
import qrcodeTerminal from 'qrcode-terminal';

export function renderTerminalQr(value: string): Promise<string> {
  return new Promise((resolve) => qrcodeTerminal.generate(value, { small: true }, resolve));
}

/** Writes the QR code with a caption to `out`. */
export async function printTerminalQr(value: string, out: NodeJS.WritableStream = process.stderr): Promise<void> {
  const drawing = await renderTerminalQr(value);
  out.write(`\nScan with WhatsApp on your phone (Settings → Linked devices → Link a device):\n\n${drawing}\n`);
}
