/**
 * `POST …/sandbox/scan`: in sandbox mode (WAQ_SANDBOX), asks the simulator phone of the session's
 * account to link the device as a phone would: it enters the pairing code when one is shown
 * (`pairingCode`), else scans the QR code on screen, so the status page can link without a phone. Off
 * (404) otherwise.
 */
import { sandboxAccountUrl } from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';

export interface SandboxSettings {
  /** WAQ_SANDBOX */
  readonly enabled: boolean;
  /** WAQ_SIM_URL */
  readonly simUrl: string | undefined;
  /** SESSION_ID: its session has the simulator's default account (as in waq 0.1), every other one its own. */
  readonly defaultSessionId: string;
  /** @defaultValue 5000 */
  readonly timeoutMs?: number;
}

export interface ScanRequest {
  readonly sessionId: string;
  /** The session's URL (`/v1/sessions/sales`), named in the hints. */
  readonly sessionPath: string;
  /** The pairing code the session shows, if any: entered instead of scanning. */
  readonly pairingCode?: string | undefined;
}

export async function simulateScan({ enabled, simUrl, defaultSessionId, timeoutMs = 5_000 }: SandboxSettings, { sessionId, sessionPath, pairingCode }: ScanRequest): Promise<HttpResult> {
  if (!enabled) return errorResponse(404, 'sandbox_off', 'sandbox mode is off: scan the QR code with a phone (or start waq with WAQ_SANDBOX=1)');
  if (simUrl === undefined) return errorResponse(503, 'simulator_not_configured', 'sandbox mode is on but WAQ_SIM_URL is not set: start the simulator phone server and set it');
  const accountUrl = sandboxAccountUrl(simUrl, sessionId, defaultSessionId);
  let response: Response;
  try {
    response = await fetch(`${accountUrl.replace(/\/+$/, '')}/phone/${pairingCode === undefined ? 'scan' : 'link-code'}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: pairingCode === undefined ? '{}' : JSON.stringify({ code: pairingCode }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    return errorResponse(502, 'simulator_unreachable', `the simulator phone at WAQ_SIM_URL did not answer within ${timeoutMs} ms: is it running?`);
  }
  const body = (await response.json().catch(() => undefined)) as { error?: { message?: unknown } } | undefined;
  if (response.ok) return { status: 200, body: { scanned: pairingCode === undefined, codeEntered: pairingCode !== undefined, simulator: body ?? null } };
  const said = typeof body?.error?.message === 'string' ? `: ${body.error.message}` : '';
  if (response.status === 409 && pairingCode !== undefined) return errorResponse(409, 'code_refused', `the simulated phone refused the pairing code${said}`);
  if (response.status === 409) return errorResponse(409, 'no_qr', `there is no QR code on screen to scan${said}; POST ${sessionPath}/connect first`);
  return errorResponse(502, 'simulator_error', `the simulator phone answered ${response.status}${said}`);
}
