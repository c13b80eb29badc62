/** The sign-in form of the browser pages: the API key in, a signed session cookie out. */
import { html, layout } from './html.js';

export interface LoginPageOptions {
  readonly next: string;
  /** The last attempt had the wrong key. */
  readonly failed: boolean;
  /** Too many wrong keys from this address: the seconds until the next attempt is looked at. */
  readonly retryAfterS?: number;
}

export function loginPage({ next, failed, retryAfterS }: LoginPageOptions): string {
  const body = html`
<section class="card login">
  <h1>Sign in</h1>
  <p class="sub">Enter the API key. It is in <code>API_KEY</code>, or in <code>DATA_DIR/api-key</code> (printed when it was generated).</p>
  ${failed ? html`<p class="error" role="alert">That key is not right.</p>` : ''}
  ${retryAfterS === undefined ? '' : html`<p class="error" role="alert">Too many wrong keys from your address: try again in ${formatWait(retryAfterS)}.</p>`}
  <form method="post" action="/login">
    <input type="hidden" name="next" value="${next}">
    <label for="key">API key</label>
    <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
    <button type="submit" class="primary">Sign in</button>
  </form>
</section>`;
  return layout({ title: 'waq · sign in', body, nav: false });
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  return `${Math.ceil(seconds / 60)} min`;
}
