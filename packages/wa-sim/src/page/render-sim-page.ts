import { PAGE_SCRIPT } from './page-script.js';

/** What the page needs to know; baked into the HTML because the page may load no other resource. */
export interface SimPageConfig {
  /**
   * Base URL of the account, e.g. `http://127.0.0.1:4100` or `http://127.0.0.1:4100/accounts/sales`;
   * the page opens `<phoneUrl>/ws` (joined as strings, so a base path is kept).
   */
  phoneUrl: string;
  /** Reported as `window.Debug.VERSION`; must equal the `webVersion` given to the Client. */
  version: string;
}

/**
 * One self-contained HTML document (inline script, no other resource): whatsapp-web.js serves it from its
 * local web-version cache as the response for exactly `https://web.whatsapp.com/`, and every other URL
 * would go to the (unreachable) network.
 */
export function renderSimPage(config: SimPageConfig): string {
  // JSON inside a <script>: escape '<' so a value can never close the script element.
  const json = JSON.stringify({ phoneUrl: config.phoneUrl, version: config.version }).replace(/</g, '\\u003c');
  const script = PAGE_SCRIPT.replace('__WA_SIM_CONFIG__', () => json);
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><title>WhatsApp (wa-sim)</title></head>',
    '<body><div id="app">WhatsApp Web simulator (waq wa-sim)</div>',
    `<script>${script}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}
