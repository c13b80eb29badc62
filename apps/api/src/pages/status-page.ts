/**
 * A session's page (`/sessions/:session`): what a person needs to link a phone and see that the
 * session is alive. The markup is static; `status.js` fills it from `/v1/sessions/:session` and keeps
 * it live from the session's SSE stream.
 */
import { html, layout } from './html.js';

export interface StatusPageOptions {
  readonly sessionId: string;
  /** WAQ_SANDBOX: shows the "simulate scan" button. */
  readonly sandbox: boolean;
}

export function statusPage({ sessionId, sandbox }: StatusPageOptions): string {
  const body = html`
<a class="back" href="/">← All sessions</a>
<h1>WhatsApp session <span class="mono">${sessionId}</span></h1>
<p class="sub">${sandbox ? 'Sandbox mode: linked to the built-in simulator, not to WhatsApp.' : 'Link a phone, watch the connection, and see what happens, live.'}</p>
<div class="grid">
  <section class="card" aria-labelledby="session-title">
    <div class="card-title"><h2 id="session-title">Session</h2><span class="live" id="live" data-on="false">connecting…</span></div>
    <div class="status-row">
      <span class="badge" id="status" data-tone="idle" role="status" aria-live="polite">loading…</span>
      <span class="since" id="since"></span>
    </div>
    <p class="detail" id="detail" hidden></p>

    <div id="qr" class="qr-area" hidden>
      <div class="qr-frame"><img id="qr-image" alt="QR code to link WhatsApp"></div>
      <div class="qr-side">
        <ol class="qr-help">
          <li>Open <strong>WhatsApp</strong> on your phone</li>
          <li>Tap <strong>Settings</strong> (or <strong>⋮</strong>) → <strong>Linked devices</strong></li>
          <li>Tap <strong>Link a device</strong> and point the phone at this code</li>
        </ol>
        <p class="expires" id="qr-expires"></p>
      </div>
    </div>

    <div id="pairing" class="pairing" hidden>
      <p class="pairing-code" id="pairing-code" aria-live="polite"></p>
      <ol class="qr-help">
        <li>On the phone of <strong id="pairing-phone"></strong>, open <strong>WhatsApp</strong> → <strong>Linked devices</strong></li>
        <li>Tap <strong>Link a device</strong>, then <strong>Link with phone number instead</strong></li>
        <li>Enter this code</li>
      </ol>
      <p class="expires" id="pairing-expires"></p>
    </div>

    <form id="by-code" class="inline-form" autocomplete="off" hidden>
      <label for="code-phone">Or link with a code</label>
      <input id="code-phone" name="phoneNumber" type="tel" required maxlength="40" placeholder="+49 151 23456789" aria-describedby="code-phone-help">
      <button type="submit">Get a code</button>
      <span class="help" id="code-phone-help">the number of the phone that links, with its country code</span>
    </form>

    <div id="linked" class="linked" hidden>
      <span class="tick" aria-hidden="true">✓</span>
      <div><strong>Linked and ready.</strong><br><span id="linked-as"></span></div>
    </div>

    <p id="notice" class="notice" hidden></p>

    <div class="actions">
      <button type="button" class="primary" id="connect">Connect</button>
      ${sandbox ? html`<button type="button" id="scan">Simulate the phone</button>` : ''}
      <button type="button" class="danger" id="logout">Log out</button>
    </div>
    <p class="message" id="message" role="alert"></p>
  </section>

  <section class="card" aria-labelledby="events-title">
    <div class="card-title"><h2 id="events-title">Recent events</h2></div>
    <ul class="events" id="events"><li class="empty">No events yet.</li></ul>
  </section>

  <section class="card wide" aria-labelledby="sending-title">
    <div class="card-title"><h2 id="sending-title">Sending</h2></div>
    <dl class="pacing" id="pacing"><dt>Loading…</dt><dd></dd></dl>
  </section>

  <section class="card wide" aria-labelledby="webhooks-title">
    <div class="card-title"><h2 id="webhooks-title">Webhooks</h2></div>
    <ul class="webhooks" id="webhooks"><li class="empty">No webhooks: add one with POST /v1/sessions/${sessionId}/webhooks.</li></ul>
  </section>
</div>`;
  return layout({ title: `waq · ${sessionId}`, body, scripts: ['/assets/status.js'], bodyAttributes: { 'data-sandbox': String(sandbox), 'data-session': `/v1/sessions/${sessionId}` } });
}
