/** `GET …/qr?format=png|svg|text|json`: the QR code to link a phone to a session, or 404 saying why there is none. */
import type { Producer, ReportedSessionState } from '@waq/shared';
import QRCode from 'qrcode';

import { errorResponse, type HttpResult } from './error-response.js';
import type { QR_FORMATS } from './schemas.js';

export type QrFormat = (typeof QR_FORMATS)[number];

const NO_STORE = { 'Cache-Control': 'no-store' };

/** Why there is no QR code to show, or the code itself. */
export function qrOrReason(state: ReportedSessionState, sessionPath: string, now = Date.now()): { value: string; expiresAt: string } | HttpResult {
  switch (state.status) {
    case 'QR':
      if (state.qr === undefined && state.pairingCode !== undefined) {
        return errorResponse(404, 'pairing_code_shown', `this session links by a pairing code (${sessionPath}: state.pairingCode), not a QR code; POST ${sessionPath}/connect without a body for one`);
      }
      if (state.qr === undefined) return errorResponse(404, 'qr_pending', 'no QR code yet: the worker is about to show one; retry in a moment');
      if (Date.parse(state.qr.expiresAt) <= now) {
        return errorResponse(404, 'qr_expired', `the QR code expired at ${state.qr.expiresAt}: a new one comes by itself, or POST ${sessionPath}/connect after too many unscanned codes`);
      }
      return state.qr;
    case 'READY':
      return errorResponse(404, 'already_linked', `the session is READY: a phone is linked, no QR code is needed (POST ${sessionPath}/logout to unlink it)`);
    case 'STARTING':
      return errorResponse(404, 'qr_pending', 'the session is STARTING: the QR code appears in a few seconds (or the saved session is restored without one)');
    case 'AUTHENTICATED':
      return errorResponse(404, 'qr_pending', 'the QR code was scanned: the session is loading (AUTHENTICATED) and will be READY shortly');
    case 'WORKER_OFFLINE':
      return errorResponse(404, 'not_started', `no worker owns the session: start a worker (a stopped session also needs POST /v1/sessions/<id>/start), then POST ${sessionPath}/connect`);
    default:
      return errorResponse(404, 'not_started', `the session is ${state.status}, not showing a QR code: POST ${sessionPath}/connect to get one`);
  }
}

/** `sessionPath`: the session's URL (`/v1/sessions/sales`), named in the hints. */
export async function getQr(producer: Producer, format: QrFormat, sessionPath: string): Promise<HttpResult> {
  const qr = qrOrReason(await producer.getState(), sessionPath);
  if ('status' in qr) return qr;
  switch (format) {
    case 'json':
      return { status: 200, body: { value: qr.value, expiresAt: qr.expiresAt }, headers: NO_STORE };
    case 'png':
      return { status: 200, body: await QRCode.toBuffer(qr.value, { type: 'png', margin: 2, width: 512, errorCorrectionLevel: 'M' }), headers: { ...NO_STORE, 'Content-Type': 'image/png' } };
    case 'svg':
      return { status: 200, body: await QRCode.toString(qr.value, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' }), headers: { ...NO_STORE, 'Content-Type': 'image/svg+xml' } };
    case 'text':
      // Half-block characters: two QR rows per line, scannable from a terminal (`curl …?format=text`).
      return { status: 200, body: await QRCode.toString(qr.value, { type: 'utf8', margin: 2, errorCorrectionLevel: 'M' }), headers: { ...NO_STORE, 'Content-Type': 'text/plain; charset=utf-8' } };
  }
}
