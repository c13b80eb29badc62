/**
 * Sandbox mode (WAQ_SANDBOX): every session is linked to a simulated account of the offline WhatsApp
 * Web simulator (packages/wa-sim) at WAQ_SIM_URL. The worker points the session's browser at that
 * account and the API's `…/sandbox/scan` asks its phone to scan, so both must name the same account:
 * this is the one place that says which.
 */

/**
 * The simulator account URL of `sessionId`: WAQ_SIM_URL itself for the configured SESSION_ID (the
 * simulator's default account, as in waq 0.1, so a sandbox profile keeps its link), else
 * `<WAQ_SIM_URL>/accounts/<sessionId>` (wa-sim's `simAccountUrl`, which a worker test holds this to).
 */
export function sandboxAccountUrl(simUrl: string, sessionId: string, defaultSessionId: string): string {
  if (sessionId === defaultSessionId) return simUrl;
  // Joined as strings: `new URL('accounts/…', simUrl)` would drop a path the base already has.
  return `${simUrl.replace(/\/+$/, '')}/accounts/${encodeURIComponent(sessionId)}`;
}
