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
