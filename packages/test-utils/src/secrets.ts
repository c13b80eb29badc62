/**
 * The log check of the reliability suite: given everything the spawned processes wrote and the
 * secrets a test used (phone numbers, message bodies, QR values, API keys), which ones appear in clear.
 */

export interface SecretLeak {
  readonly kind: string;
  readonly secret: string;
  /** The first line it was found in (shortened). */
  readonly line: string;
}

export interface Secrets {
  /** Numbers as a test wrote them (`+49 151 11112222`, `4915111112222`, …): every spelling is checked. */
  readonly phoneNumbers?: readonly string[];
  /** Message bodies, or a marker every body of the test contains. */
  readonly bodies?: readonly string[];
  readonly qrValues?: readonly string[];
  readonly keys?: readonly string[];
}

/** Every way a phone number can be written in a log line: E.164, digits, spaced, WhatsApp user id. */
export function phoneSpellings(number: string): string[] {
  const digits = number.replace(/\D/g, '');
  return [...new Set([number, digits, `+${digits}`, `${digits}@c.us`])].filter((s) => s.replace(/\D/g, '').length >= 6);
}

export function findSecrets(lines: readonly string[], secrets: Secrets): SecretLeak[] {
  const wanted: { kind: string; secret: string }[] = [
    ...(secrets.phoneNumbers ?? []).flatMap((n) => phoneSpellings(n).map((secret) => ({ kind: 'phone number', secret }))),
    ...(secrets.bodies ?? []).map((secret) => ({ kind: 'message body', secret })),
    // A QR string is "ref,publicKey,identityKey,advSecret": its ref alone is enough to link a phone.
    ...(secrets.qrValues ?? []).flatMap((qr) => [qr, ...qr.split(',').filter((part) => part.length >= 16)]).map((secret) => ({ kind: 'QR value', secret })),
    ...(secrets.keys ?? []).map((secret) => ({ kind: 'API key', secret })),
  ].filter(({ secret }) => secret.length > 0);
  const leaks: SecretLeak[] = [];
  for (const { kind, secret } of wanted) {
    const line = lines.find((l) => l.includes(secret));
    if (line !== undefined) leaks.push({ kind, secret, line: line.length > 300 ? `${line.slice(0, 300)}…` : line });
  }
  return leaks;
}
