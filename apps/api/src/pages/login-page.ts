/** The sign-in form of the browser pages: the API key in, a signed session cookie out. */
import { html, layout } from './html.js';

export function loginPage({ next, failed }: { next: string; failed: boolean }): string {
  const body = html`
<section class="card login">
  <h1>Sign in</h1>
  <p class="sub">Enter the API key. It is in <code>API_KEY</code>, or in <code>DATA_DIR/api-key</code> (printed when it was generated).</p>
  ${failed ? html`<p class="error" role="alert">That key is not right.</p>` : ''}
  <form method="post" action="/login">
    <input type="hidden" name="next" value="${next}">
    <label for="key">API key</label>
    <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
    <button type="submit" class="primary">Sign in</button>
  </form>
</section>`;
  return layout({ title: 'waq · sign in', body, nav: false });
}
