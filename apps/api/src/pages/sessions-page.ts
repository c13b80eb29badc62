/**
 * The overview page (`/`): every session of the deployment with its status and the worker running it,
 * the worker pool, and a form to create a session. The markup is static; `sessions.js` fills it from
 * `/v1/sessions` and `/v1/workers` and keeps it current. Each session links to its own page.
 */
import { html, layout } from './html.js';

export interface SessionsPageOptions {
  /** WAQ_SANDBOX: says so under the title. */
  readonly sandbox: boolean;
}

export function sessionsPage({ sandbox }: SessionsPageOptions): string {
  const body = html`
<h1>WhatsApp sessions</h1>
<p class="sub">${sandbox ? 'Sandbox mode: every session is linked to the built-in simulator, not to WhatsApp.' : 'One WhatsApp number per session, run by the worker pool. Open a session to link a phone.'}</p>
<section class="card" aria-labelledby="sessions-title">
  <div class="card-title"><h2 id="sessions-title">Sessions</h2><span class="live" id="refreshed" data-on="false">loading…</span></div>
  <table class="list" id="sessions">
    <thead><tr><th scope="col">Session</th><th scope="col">Status</th><th scope="col">Linked as</th><th scope="col">Waiting sends</th><th scope="col">Worker</th><th scope="col">Backup</th><th scope="col">Wanted</th></tr></thead>
    <tbody><tr class="empty"><td colspan="6">Loading…</td></tr></tbody>
  </table>
  <form class="inline-form" id="create" autocomplete="off">
    <label for="new-id">New session</label>
    <input id="new-id" name="id" required maxlength="64" pattern="[a-z0-9_\\-]{1,64}" placeholder="e.g. sales" aria-describedby="new-id-help">
    <button type="submit" class="primary">Create</button>
    <span class="help" id="new-id-help">lowercase letters, digits, - and _</span>
  </form>
  <p class="message" id="message" role="alert"></p>
</section>
<section class="card spaced" aria-labelledby="workers-title">
  <div class="card-title"><h2 id="workers-title">Workers</h2></div>
  <table class="list" id="workers">
    <thead><tr><th scope="col">Worker</th><th scope="col">Host</th><th scope="col">Sessions</th><th scope="col">State</th></tr></thead>
    <tbody><tr class="empty"><td colspan="4">Loading…</td></tr></tbody>
  </table>
</section>`;
  return layout({ title: 'waq · sessions', body, scripts: ['/assets/sessions.js'] });
}

/** The overview's browser script (served as /assets/sessions.js); like status.js it only sets `textContent`. */
export const SESSIONS_SCRIPT = String.raw`'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const TONES = { READY: 'ok', QR: 'info', STARTING: 'info', AUTHENTICATED: 'info', DISCONNECTED: 'warn', STOPPED: 'idle', LOGGED_OUT: 'idle', FAILED: 'bad', WORKER_OFFLINE: 'bad' };
  const LABELS = { READY: 'Ready', QR: 'Waiting for scan', STARTING: 'Starting', AUTHENTICATED: 'Authenticated, loading', DISCONNECTED: 'Disconnected, reconnecting', STOPPED: 'Stopped', LOGGED_OUT: 'Logged out', FAILED: 'Failed', WORKER_OFFLINE: 'No worker' };

  function signIn() { location.assign('/login?next=' + encodeURIComponent(location.pathname)); }
  async function api(method, path, body) {
    const init = { method, headers: { Accept: 'application/json' } };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    if (response.status === 401) { signIn(); throw new Error('signed out'); }
    return response;
  }
  function phone(wid) { return /@c\.us$/.test(wid) ? '+' + wid.replace(/@.*$/, '') : wid; }
  function say(text, kind) { const el = $('message'); el.textContent = text || ''; el.dataset.kind = kind || 'info'; }
  function cell(row, content) { const td = document.createElement('td'); if (content instanceof Node) td.append(content); else td.textContent = content; row.append(td); return td; }
  function fill(table, rows, empty, columns) {
    const tbody = $(table).tBodies[0];
    tbody.replaceChildren();
    if (rows.length === 0) { const tr = document.createElement('tr'); tr.className = 'empty'; const td = cell(tr, empty); td.colSpan = columns; tbody.append(tr); return; }
    for (const row of rows) tbody.append(row);
  }

  function sessionRow(s) {
    const tr = document.createElement('tr');
    tr.dataset.session = s.id;
    const link = document.createElement('a');
    link.href = '/sessions/' + encodeURIComponent(s.id);
    link.textContent = s.id;
    link.className = 'mono';
    cell(tr, link);
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.tone = s.desired === 'running' ? (TONES[s.state.status] || 'idle') : 'idle';
    badge.dataset.status = s.state.status;
    badge.textContent = s.desired === 'deleted' ? 'Deleting' : s.desired === 'stopped' ? 'Stopped' : (LABELS[s.state.status] || s.state.status);
    cell(tr, badge);
    cell(tr, s.state.me ? (s.state.me.pushname ? s.state.me.pushname + ' · ' : '') + phone(s.state.me.wid) : '—');
    cell(tr, s.waitingSends === 0 ? '—' : s.waitingSends + (s.state.status === 'READY' ? ' queued' : ' held')).className = 'count';
    cell(tr, s.owner || '—').className = 'mono';
    cell(tr, backupCell(s.backup));
    cell(tr, s.desired);
    return tr;
  }
  function ago(seconds) {
    if (seconds < 90) return seconds + ' s ago';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min ago';
    return Math.round(seconds / 3600) + ' h ago';
  }
  function backupCell(b) {
    if (!b) return '—';
    const badge = document.createElement('span');
    badge.className = 'badge backup';
    badge.style.whiteSpace = 'nowrap';
    badge.dataset.tone = b.stale ? 'warn' : 'idle';
    badge.textContent = (b.stale ? 'Stale · ' : '') + ago(b.ageSeconds);
    badge.title = 'generation ' + b.generation + ', ' + Math.round(b.bytes / 1024) + ' KiB, ' + b.completedAt;
    return badge;
  }
  function workerRow(w) {
    const tr = document.createElement('tr');
    cell(tr, w.id).className = 'mono';
    cell(tr, w.host);
    cell(tr, w.sessions.length + ' / ' + w.capacity + (w.sessions.length ? ' (' + w.sessions.join(', ') + ')' : ''));
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.tone = !w.alive ? 'bad' : w.draining ? 'warn' : 'ok';
    badge.textContent = !w.alive ? 'Silent' : w.draining ? 'Draining' : 'Alive';
    cell(tr, badge);
    return tr;
  }

  let loading = null;
  function load() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const [sessions, workers] = await Promise.all([api('GET', '/v1/sessions'), api('GET', '/v1/workers')]);
        if (!sessions.ok || !workers.ok) throw new Error('status ' + sessions.status + '/' + workers.status);
        const list = await sessions.json();
        fill('sessions', list.sessions.map(sessionRow), 'No sessions yet: create one below.', 7);
        fill('workers', (await workers.json()).workers.map(workerRow), 'No worker has joined the pool: start one (npm start, or the worker container).', 4);
        const live = $('refreshed');
        live.dataset.on = 'true';
        live.textContent = 'updated ' + new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
      } catch (error) {
        if (String(error.message) !== 'signed out') { $('refreshed').dataset.on = 'false'; $('refreshed').textContent = 'the gateway is not answering; retrying…'; }
      } finally { loading = null; }
    })();
    return loading;
  }

  $('create').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('new-id');
    const button = event.currentTarget.querySelector('button');
    button.disabled = true;
    say('');
    try {
      const response = await api('POST', '/v1/sessions', { id: input.value.trim() });
      const body = await response.json().catch(() => ({}));
      if (response.ok) { say('Created ' + body.id + '. Open it to link a phone.'); input.value = ''; await load(); }
      else say((body.error && (body.error.details && body.error.details[0] ? body.error.details[0].path + ' ' + body.error.details[0].message : body.error.message)) || 'Request failed (' + response.status + ')', 'error');
    } catch (error) {
      if (String(error.message) !== 'signed out') say('The gateway is not answering.', 'error');
    } finally { button.disabled = false; }
  });

  setInterval(() => { void load(); }, 3000);
  void load();
})();
`;

/** `/sessions/:session` for a session that does not exist. */
export function missingSessionPage(id: string): string {
  const body = html`
<a class="back" href="/">← All sessions</a>
<h1>No session <span class="mono">${id}</span></h1>
<p class="sub">It was never created, or it was deleted. Create it on the overview page, or with <code>POST /v1/sessions</code>.</p>`;
  return layout({ title: 'waq · no such session', body });
}
