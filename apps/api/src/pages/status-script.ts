/**
 * The status page's browser script (served as /assets/status.js). Plain ES2020, no build step: it is
 * small, and the browser test exercises it. It only ever sets `textContent`, never HTML, so nothing an
 * event carries can inject markup.
 */
export const STATUS_SCRIPT = String.raw`'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const sandbox = document.body.dataset.sandbox === 'true';
  // The session's API URL (/v1/sessions/<id>): every call of this page goes under it.
  const base = document.body.dataset.session;
  const TONES = { READY: 'ok', QR: 'info', STARTING: 'info', AUTHENTICATED: 'info', DISCONNECTED: 'warn', STOPPED: 'idle', LOGGED_OUT: 'idle', FAILED: 'bad', WORKER_OFFLINE: 'bad' };
  const LABELS = { READY: 'Ready', QR: 'Waiting for scan', STARTING: 'Starting', AUTHENTICATED: 'Authenticated, loading', DISCONNECTED: 'Disconnected, reconnecting', STOPPED: 'Stopped', LOGGED_OUT: 'Logged out', FAILED: 'Failed', WORKER_OFFLINE: 'Worker offline' };
  const NOTICES = {
    STOPPED: 'Not connected. Press Connect to show a QR code.',
    LOGGED_OUT: 'This gateway was unlinked. Press Connect to link a phone again.',
    STARTING: 'Starting WhatsApp Web…',
    AUTHENTICATED: 'Scanned. Loading chats…',
    DISCONNECTED: 'The connection dropped; the worker reconnects by itself. Messages are held meanwhile.',
    WORKER_OFFLINE: 'No worker owns this session. Start a worker (or, if the session is stopped, start it); messages are held until it is ready.',
  };
  let state = null;
  let qrKey = null;
  let qrUrl = null;

  function signIn() { location.assign('/login?next=' + encodeURIComponent(location.pathname)); }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: 'application/json' } };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    if (response.status === 401) { signIn(); throw new Error('signed out'); }
    return response;
  }

  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d';
  }

  /** 4915123456789@c.us → +4915123456789; other ids (…@lid) as they are. */
  function phone(wid) { return /@c\.us$/.test(wid) ? '+' + wid.replace(/@.*$/, '') : wid; }

  function say(text, kind) { const el = $('message'); el.textContent = text || ''; el.dataset.kind = kind || 'info'; }

  async function showQr(qr) {
    const key = qr.value + '|' + qr.expiresAt;
    if (key === qrKey) return;
    qrKey = key;
    const response = await api('GET', base + '/qr?format=svg');
    if (!response.ok) { qrKey = null; $('qr').hidden = true; return; }
    const url = URL.createObjectURL(await response.blob());
    $('qr-image').src = url;
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = url;
    $('qr').hidden = false;
  }

  function render() {
    const s = state;
    if (!s) return;
    const status = $('status');
    const code = s.status === 'QR' && s.pairingCode && Date.parse(s.pairingCode.expiresAt) > Date.now() ? s.pairingCode : null;
    status.textContent = code && !(s.qr && Date.parse(s.qr.expiresAt) > Date.now()) ? 'Waiting for the code' : LABELS[s.status] || s.status;
    status.dataset.tone = TONES[s.status] || 'idle';
    status.dataset.status = s.status;
    $('since').textContent = 'for ' + ago(s.since);
    const reason = s.lastError && s.status !== 'READY' ? s.lastError.message : '';
    $('detail').textContent = reason;
    $('detail').hidden = !reason;
    const hasQr = s.status === 'QR' && s.qr && Date.parse(s.qr.expiresAt) > Date.now();
    if (hasQr) void showQr(s.qr); else { $('qr').hidden = true; qrKey = null; }
    if (hasQr) {
      const left = Math.max(0, Math.round((Date.parse(s.qr.expiresAt) - Date.now()) / 1000));
      $('qr-expires').textContent = 'This code refreshes in ' + left + ' s.';
    }
    $('pairing').hidden = !code;
    if (code) {
      $('pairing-code').textContent = code.code.slice(0, 4) + '-' + code.code.slice(4);
      $('pairing-phone').textContent = code.phoneNumber;
      $('pairing-expires').textContent = 'A new code comes in ' + Math.max(0, Math.round((Date.parse(code.expiresAt) - Date.now()) / 1000)) + ' s.';
    }
    // Linking by code is offered wherever linking is: while nothing is linked and no code is shown.
    $('by-code').hidden = !!code || s.status === 'READY' || s.status === 'AUTHENTICATED';
    $('linked').hidden = s.status !== 'READY';
    $('linked-as').textContent = s.me ? 'Linked as ' + (s.me.pushname ? s.me.pushname + ' · ' : '') + phone(s.me.wid) : '';
    const notice = s.status === 'QR' && !hasQr && !code ? 'The code expired; a new one is on its way.' : NOTICES[s.status] || '';
    $('notice').textContent = notice;
    $('notice').hidden = !notice;
    // Connect is idempotent, but offering it while a connection is under way only confuses.
    $('connect').hidden = s.status === 'READY' || s.status === 'STARTING' || s.status === 'AUTHENTICATED' || hasQr || !!code;
    $('logout').hidden = s.status === 'STOPPED' || s.status === 'LOGGED_OUT';
    if ($('scan')) $('scan').hidden = !(sandbox && (hasQr || code));
  }

  let loading = null;
  async function loadState() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const response = await api('GET', base);
        if (response.ok) { const view = await response.json(); state = view.state; render(); renderPacing(view.pacing); }
        else if (response.status === 404) say('This session does not exist (any more). Go back to all sessions.', 'error');
        else say('Could not read the session state (' + response.status + '). Retrying…', 'error');
      } catch (error) {
        if (String(error.message) !== 'signed out') say('The gateway is not answering. Retrying…', 'error');
      } finally { loading = null; }
    })();
    return loading;
  }

  /** How the session sends: pacing, its budgets and how much of them it used, the warm-up, typing. */
  function renderPacing(p) {
    if (!p) return;
    const rows = [
      ['Pace', p.intervalMs === 0 && p.jitterMs === 0 ? 'no pause between messages' : 'a message every ' + (p.intervalMs / 1000) + ' s + up to ' + (p.jitterMs / 1000) + ' s'],
      ['Daily cap', p.dailyCap === 0 ? 'none' : p.sentLast24h + ' of ' + p.dailyCap + ' in the last 24 h' + (p.dailyCapUntil ? ' — reached: sends wait until ' + new Date(p.dailyCapUntil).toLocaleString() : '')],
      ['New chats', p.newChatsPerDay === 0 ? 'no budget' : p.newChatsLast24h + ' of ' + p.newChatsPerDay + ' in the last 24 h' + (p.newChatsLast24h >= p.newChatsPerDay ? ' — spent: first messages to new numbers wait' : '')],
      ['Warm-up', p.warmupMessages === 0 ? 'off' : p.warmupLeft > 0 ? p.warmupLeft + ' messages still to go slower' : 'the next ' + p.warmupMessages + ' messages after ' + Math.round(p.warmupAfterMs / 60000) + ' min away go slower'],
      ['Typing', p.typing ? 'shown before each message' : 'only when a send asks for it'],
    ];
    $('pacing').replaceChildren(...rows.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.pacing = term.toLowerCase().replace(/ /g, '-');
      return [dt, dd];
    }));
  }

  /** Each webhook: where it posts, whether it does (active, paused with the reason, disabled), its queue and dead letters. */
  async function loadWebhooks() {
    try {
      const response = await api('GET', base + '/webhooks');
      if (!response.ok) return;
      const { webhooks } = await response.json();
      const list = $('webhooks');
      if (webhooks.length === 0) return;
      list.replaceChildren(...webhooks.map((hook) => {
        const li = document.createElement('li');
        li.dataset.webhook = hook.id;
        const url = document.createElement('span');
        url.className = 'url';
        const target = new URL(hook.url);
        url.textContent = target.host + target.pathname;
        const badge = document.createElement('span');
        badge.className = 'badge';
        const [label, tone] = hook.paused ? ['Paused', 'bad'] : !hook.enabled ? ['Disabled', 'idle'] : hook.deliveries.deadLetters > 0 ? ['Active, with dead letters', 'warn'] : ['Active', 'ok'];
        badge.textContent = label;
        badge.dataset.tone = tone;
        const detail = document.createElement('span');
        detail.className = 'detail';
        const counts = hook.deliveries.waiting + hook.deliveries.active + ' waiting · ' + hook.deliveries.deadLetters + ' dead letters · ' + hook.events.join(', ');
        detail.textContent = hook.paused ? hook.paused.reason + ' — ' + counts : counts;
        li.append(url, badge, detail);
        return li;
      }));
    } catch { /* the state's own reading reports an unreachable gateway */ }
  }

  const ACKS = { error: 'delivery error', pending: 'pending', server: 'sent', device: 'delivered', read: 'read', played: 'played' };
  function describe(type, e) {
    switch (type) {
      case 'state': return 'State → ' + (LABELS[e.status] || e.status) + (e.reason ? ': ' + e.reason : '');
      case 'qr': return 'New QR code';
      case 'message.sent': return 'Message ' + e.id + ' sent';
      case 'message.failed': return 'Message ' + e.id + ' failed: ' + e.reason;
      case 'message.cancelled': return 'Message ' + e.id + ' cancelled';
      case 'pairing_code': return 'New pairing code';
      case 'message.ack': return 'Message ' + (e.id || e.waMessageId) + ' ' + (ACKS[e.ack] || e.ack);
      case 'message.incoming': return 'Incoming message from ' + phone(String(e.from));
      case 'webhook.paused': return 'Webhook ' + e.webhookId + ' paused: ' + e.reason;
      default: return type;
    }
  }

  const seen = new Set();
  function addEvent(type, id, e) {
    if (id && seen.has(id)) return;
    if (id) seen.add(id);
    const list = $('events');
    const empty = list.querySelector('.empty');
    if (empty) empty.remove();
    const li = document.createElement('li');
    li.dataset.type = type;
    const time = document.createElement('time');
    const at = e.at ? new Date(e.at) : new Date();
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = describe(type, e);
    li.append(time, what);
    list.prepend(li);
    while (list.children.length > 50) list.lastElementChild.remove();
  }

  function connectEvents() {
    const source = new EventSource(base + '/events?backlog=20');
    const live = $('live');
    source.addEventListener('open', () => { live.dataset.on = 'true'; live.textContent = 'live'; void loadState(); });
    source.addEventListener('error', () => { live.dataset.on = 'false'; live.textContent = 'reconnecting…'; });
    for (const type of ['state', 'qr', 'pairing_code', 'message.sent', 'message.failed', 'message.cancelled', 'message.ack', 'message.incoming', 'webhook.paused']) {
      source.addEventListener(type, (message) => {
        let data = {};
        try { data = JSON.parse(message.data); } catch { return; }
        addEvent(type, message.lastEventId, data);
        if (type === 'state' || type === 'qr' || type === 'pairing_code') void loadState();
        if (type === 'webhook.paused') void loadWebhooks();
      });
    }
  }

  async function act(button, method, path, done, body) {
    button.disabled = true;
    say('');
    try {
      const response = await api(method, path, body);
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) say((answer.error && answer.error.message) || 'Request failed (' + response.status + ')', 'error');
      else say(done);
      await loadState();
    } catch (error) {
      if (String(error.message) !== 'signed out') say('The gateway is not answering.', 'error');
    } finally { button.disabled = false; }
  }

  $('connect').addEventListener('click', (event) => act(event.currentTarget, 'POST', base + '/connect', 'Connecting…'));
  $('logout').addEventListener('click', (event) => {
    if (confirm('Log out and unlink this gateway from WhatsApp? Queued messages are kept until you link again.')) {
      void act(event.currentTarget, 'POST', base + '/logout', 'Logging out…');
    }
  });
  $('by-code').addEventListener('submit', (event) => {
    event.preventDefault();
    const phoneNumber = $('code-phone').value.trim();
    void act(event.currentTarget.querySelector('button'), 'POST', base + '/connect', 'Asking WhatsApp for a code…', { method: 'code', phoneNumber });
  });
  if ($('scan')) $('scan').addEventListener('click', (event) => act(event.currentTarget, 'POST', base + '/sandbox/scan', 'Linked by the simulated phone.'));

  // The lease can lapse without any event (a worker killed with -9): re-read the state now and then.
  setInterval(() => { void loadState(); void loadWebhooks(); }, 10000);
  // Keeps "for N s" and the QR countdown current between events.
  setInterval(render, 1000);
  void loadState();
  void loadWebhooks();
  connectEvents();
})();
`;
