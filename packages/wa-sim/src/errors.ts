/** Typed errors of the phone API, each with a stable `name` and the HTTP status it maps to. */
export class PhoneApiError extends Error {
  override readonly name: string = 'PhoneApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** `POST /phone/scan` while no page shows a QR code. */
/** A pairing code entered on the phone that no page is waiting for, has expired, or is for another number. */
export class PairingCodeError extends PhoneApiError {
  override readonly name = 'PairingCodeError';
  constructor(message: string) {
    super(409, 'BAD_CODE', message);
  }
}

export class NoQrOnScreenError extends PhoneApiError {
  override readonly name = 'NoQrOnScreenError';
  constructor(ref?: string) {
    super(
      409,
      'NO_QR',
      ref
        ? `No page shows QR ref ${ref}: it was rotated, scanned or its page is gone. Read GET /phone for the current one.`
        : 'No page shows a QR code: start a client (it must be unpaired) and wait for its "qr" event.',
    );
  }
}

/** A path segment (or a `simAccountUrl` argument) that is not an account id. */
export class InvalidAccountIdError extends PhoneApiError {
  override readonly name = 'InvalidAccountIdError';
  constructor(readonly accountId: string) {
    const shown = accountId.length > 80 ? `${accountId.slice(0, 80)}…` : accountId;
    super(
      404,
      'INVALID_ACCOUNT_ID',
      `No account ${JSON.stringify(shown)}: an account id is 1–64 characters of A–Z, a–z, 0–9, "_" and "-" (e.g. /accounts/sales/phone).`,
      [{ path: 'accountId', message: 'expected 1–64 characters of A–Z, a–z, 0–9, "_" and "-"' }],
    );
  }
}

/** A request or page for an account the phone server has not made yet, while it shuts down. */
export class PhoneServerClosingError extends PhoneApiError {
  override readonly name = 'PhoneServerClosingError';
  constructor(readonly accountId: string) {
    super(503, 'CLOSING', `The phone server is shutting down and makes no new account ("${accountId}"): retry against the restarted server.`);
  }
}
