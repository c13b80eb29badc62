/**
 * Content-Security-Policy per kind of response. Pages get only what they use: same-origin scripts and
 * styles, QR images as `blob:` URLs, fetch and SSE to this origin. Bull Board's UI needs inline styles
 * (its loading screen and React style props) and `data:` images; its Google Fonts link stays blocked
 * (the UI falls back to system fonts), which also keeps this machine offline-friendly.
 */
const COMMON = ["frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"];

export const CSP = {
  /** JSON and other API responses: nothing may load from them. */
  api: ["default-src 'none'", "frame-ancestors 'none'"].join('; '),
  /** Status page: its own script, its own stylesheet, QR blobs, fetch/SSE to itself. */
  statusPage: ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob:", "connect-src 'self'", ...COMMON].join('; '),
  /** Docs and login: no script at all. */
  staticPage: ["default-src 'none'", "style-src 'self'", "img-src 'self'", ...COMMON].join('; '),
  bullBoard: [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; '),
} as const;
