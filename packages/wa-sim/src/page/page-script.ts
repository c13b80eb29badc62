/**
 * The simulated WhatsApp Web, as plain browser JavaScript kept in a string.
 *
 * Why a string and not a TypeScript function serialised with `toString()`: tsx/vitest (esbuild with
 * `keepNames`) inject `__name(...)` helpers into function bodies, which do not exist in the page. The
 * script is parse-checked by `page-script.test.ts` and exercised for real by the e2e contract test.
 *
 * It implements only what whatsapp-web.js 1.34.7 touches (src/Client.js, src/util/Injected/*, and the
 * media paths: processMediaData, processStickerData, Message.downloadMedia):
 * `window.Debug.VERSION` and `window.require(name)` for a list of WA Web module names. Every name the
 * library asks for that is not provided is recorded in `window.__waSim.missing`, so the contract test can
 * fail loudly when an upgrade needs more.
 *
 * Rules it obeys (see packages/wa-sim/README.md):
 * - it never navigates, except the one reload WhatsApp Web itself does after a logout from the phone
 *   (the library recognises LOGOUT only through that navigation: Client.js `framenavigated`);
 * - the pairing lives in IndexedDB written with `durability: 'strict'` (localStorage is flushed lazily
 *   and is lost on a kill -9 of Chromium);
 * - `change:hasSynced` (the only trigger of `authenticated` and `ready`) fires only once the library has
 *   subscribed to it, because the library subscribes at the very end of its injection.
 *
 * Placeholder `__WA_SIM_CONFIG__` is replaced with a JSON object `{ phoneUrl, version }`.
 * Do not use backticks or dollar-brace sequences below: this is a String.raw template.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var CFG = __WA_SIM_CONFIG__;
  var missing = [];
  var log = function () { try { console.log.apply(console, ['[wa-sim]'].concat([].slice.call(arguments))); } catch (e) { /* ignore */ } };

  // ---------------------------------------------------------------- events (Backbone-like)
  function hide(obj, key, value) {
    Object.defineProperty(obj, key, { value: value, enumerable: false, writable: true, configurable: true });
  }
  function Events() {
    hide(this, '_events', {});
    hide(this, '_onListen', null);
  }
  Events.prototype.on = function (names, cb, ctx) { return this._add(names, cb, ctx, false); };
  Events.prototype.once = function (names, cb, ctx) { return this._add(names, cb, ctx, true); };
  Events.prototype._add = function (names, cb, ctx, once) {
    var self = this;
    String(names).split(/\s+/).forEach(function (n) {
      if (!n || typeof cb !== 'function') return;
      (self._events[n] = self._events[n] || []).push({ cb: cb, ctx: ctx, once: once });
      if (self._onListen) self._onListen(n);
    });
    return this;
  };
  Events.prototype.off = function (names, cb) {
    var self = this;
    if (!names) { hide(this, '_events', {}); return this; }
    String(names).split(/\s+/).forEach(function (n) {
      var list = self._events[n];
      if (!list) return;
      self._events[n] = cb ? list.filter(function (l) { return l.cb !== cb; }) : [];
    });
    return this;
  };
  Events.prototype.listenerCount = function (name) { return (this._events[name] || []).length; };
  Events.prototype.trigger = function (name) {
    var args = [].slice.call(arguments, 1);
    var self = this;
    var list = this._events[name];
    if (list && list.length) {
      this._events[name] = list.filter(function (l) { return !l.once; });
      list.forEach(function (l) {
        try {
          var r = l.cb.apply(l.ctx || self, args);
          if (r && typeof r.catch === 'function') r.catch(function (e) { log('listener failed', name, e); });
        } catch (e) { log('listener threw', name, e); }
      });
    }
    if (this._collections) {
      this._collections.forEach(function (c) { c.trigger.apply(c, [name].concat(args)); });
    }
    return this;
  };

  // ---------------------------------------------------------------- models and collections
  function Model(attrs) {
    Events.call(this);
    hide(this, '_collections', []);
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) this[k] = attrs[k];
  }
  Model.prototype = Object.create(Events.prototype);
  Model.prototype.set = function (key, value) {
    var prev = this[key];
    if (prev === value) return this;
    this[key] = value;
    this.trigger('change:' + key, this, value, prev);
    this.trigger('change', this);
    return this;
  };
  // puppeteer returns values by value: the copy must be plain data (methods and hidden fields vanish).
  Model.prototype.serialize = function () {
    var out = {};
    for (var k in this) {
      if (!Object.prototype.hasOwnProperty.call(this, k)) continue;
      var v = this[k];
      out[k] = v && typeof v === 'object' && typeof v.serialize === 'function' ? v.serialize() : v;
    }
    return out;
  };
  Model.prototype.unsafe = function () { return this; };

  function keyOf(id) {
    if (id == null) return '';
    if (typeof id === 'string') return id;
    return id._serialized || String(id);
  }
  function Collection(ModelClass) {
    Events.call(this);
    hide(this, '_byId', new Map());
    this.modelClass = ModelClass;
  }
  Collection.prototype = Object.create(Events.prototype);
  Collection.prototype.get = function (id) { return this._byId.get(keyOf(id)) || undefined; };
  Collection.prototype.getModelsArray = function () { return Array.from(this._byId.values()); };
  Object.defineProperty(Collection.prototype, 'length', { get: function () { return this._byId.size; } });
  Object.defineProperty(Collection.prototype, 'models', { get: function () { return this.getModelsArray(); } });
  Collection.prototype.add = function (model) {
    if (!(model instanceof Model)) model = new this.modelClass(model);
    var key = keyOf(model.id);
    var existing = this._byId.get(key);
    if (existing) return existing;
    this._byId.set(key, model);
    model._collections.push(this);
    this.trigger('add', model, this, {});
    return model;
  };
  Collection.prototype.remove = function (model) {
    var key = keyOf(model && model.id ? model.id : model);
    var found = this._byId.get(key);
    if (!found) return undefined;
    this._byId.delete(key);
    var self = this;
    hide(found, '_collections', found._collections.filter(function (c) { return c !== self; }));
    this.trigger('remove', found, this, {});
    return found;
  };
  Collection.prototype.find = function (id) { return Promise.resolve(this.get(id) || null); };
  Collection.prototype.getMessagesById = function (ids) {
    var self = this;
    return Promise.resolve({ messages: (ids || []).map(function (i) { return self.get(i); }).filter(Boolean) });
  };
  Collection.prototype.serialize = function () {
    return this.getModelsArray().map(function (m) { return keyOf(m.id); });
  };

  // ---------------------------------------------------------------- ids
  // Wid: whatsapp-web.js reads _serialized/user/server and calls isLid()/isGroup()/isStatus()/isUser().
  function Wid(s) {
    var at = s.indexOf('@');
    this.server = s.slice(at + 1);
    this.user = s.slice(0, at);
    this._serialized = s;
  }
  Wid.prototype.toString = function () { return this._serialized; };
  Wid.prototype.isLid = function () { return this.server === 'lid'; };
  Wid.prototype.isUser = function () { return this.server === 'c.us' || this.server === 'lid'; };
  Wid.prototype.isGroup = function () { return this.server === 'g.us'; };
  Wid.prototype.isBroadcast = function () { return this.server === 'broadcast'; };
  Wid.prototype.isStatus = function () { return this.user === 'status' && this.server === 'broadcast'; };
  Wid.prototype.isNewsletter = function () { return this.server === 'newsletter'; };
  Wid.prototype.toJid = function () { return this.server === 'c.us' ? this.user + '@s.whatsapp.net' : this._serialized; };
  Wid.prototype.equals = function (o) { return !!o && keyOf(o) === this._serialized; };
  function createWid(x) {
    if (x instanceof Wid) return x;
    var s = typeof x === 'string' ? x : keyOf(x);
    if (s.indexOf('@') < 0) s = s + '@c.us';
    s = s.replace('@s.whatsapp.net', '@c.us');
    return new Wid(s);
  }

  function hex(n) {
    var bytes = crypto.getRandomValues(new Uint8Array(n));
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, '0'); }).join('').toUpperCase();
  }
  // Real WA Web ids are '3EB0' + hex; whatsapp-web.js derives deviceType 'web' from that shape.
  function MsgKey(o) {
    var fromMe = o.fromMe !== undefined ? !!o.fromMe : o.selfDir === 'out';
    this.fromMe = fromMe;
    this.remote = createWid(o.remote !== undefined ? o.remote : fromMe ? o.to : o.from);
    this.id = o.id;
    if (o.participant) this.participant = createWid(o.participant);
    this._serialized = fromMe + '_' + this.remote._serialized + '_' + this.id +
      (this.participant ? '_' + this.participant._serialized : '');
  }
  MsgKey.prototype.toString = function () { return this._serialized; };
  MsgKey.newId = function () { return Promise.resolve('3EB0' + hex(10)); };

  // ---------------------------------------------------------------- domain models
  function Msg(attrs) {
    Model.call(this, attrs);
    if (this.id && !(this.id instanceof MsgKey)) this.id = new MsgKey(this.id);
  }
  Msg.prototype = Object.create(Model.prototype);
  Msg.prototype.serialize = function () {
    var out = Model.prototype.serialize.call(this);
    out.id = { fromMe: this.id.fromMe, remote: this.id.remote, id: this.id.id, _serialized: this.id._serialized };
    if (this.id.participant) out.id.participant = this.id.participant;
    return out;
  };
  Msg.prototype.canReply = function () { return true; };
  Msg.prototype.msgContextInfo = function () {
    return { quotedMsg: this.serialize(), quotedStanzaID: this.id.id, quotedRemoteJid: this.id.remote };
  };

  function Chat(attrs) {
    Model.call(this, attrs);
    hide(this, 'msgs', new Collection(Msg));
    if (this.unreadCount === undefined) this.unreadCount = 0;
    if (this.t === undefined) this.t = 0;
    this.archive = false;
    this.pin = 0;
    this.isLocked = false;
    this.isReadOnly = false;
    this.mute = { expiration: 0 };
    this.muteExpiration = 0;
    this.formattedTitle = '+' + this.id.user;
  }
  Chat.prototype = Object.create(Model.prototype);
  Chat.prototype.serialize = function () {
    var out = Model.prototype.serialize.call(this);
    out.msgs = this.msgs.serialize();
    return out;
  };

  var MsgCollection = new Collection(Msg);
  var ChatCollection = new Collection(Chat);

  function chatFor(wid) {
    var chat = ChatCollection.get(wid);
    if (!chat) chat = ChatCollection.add(new Chat({ id: wid }));
    return chat;
  }
  function addToChat(chat, msg) {
    chat.msgs.add(msg);
    if (msg.t >= (chat.t || 0)) {
      chat.lastReceivedKey = msg.id;
      chat.set('t', msg.t);
    }
  }

  // ---------------------------------------------------------------- app state
  var Socket = new Model({ state: 'OPENING', hasSynced: false, stream: 'DISCONNECTED' });
  var Conn = new Model({ ref: null, pushname: null, platform: 'android', battery: undefined, plugged: undefined });
  Conn.serialize = function () {
    return {
      ref: Conn.ref, pushname: Conn.pushname, platform: Conn.platform,
      phone: { wa_version: '2.25.0 (wa-sim)', os_version: 'wa-sim', device_manufacturer: 'waq', device_model: 'wa-sim', os_build_number: 'wa-sim' },
    };
  };
  Conn.canSetMyPushname = function () { return false; };
  var Cmd = new Events();
  var Stream = new Model({ available: false });
  Stream.markAvailable = function () { Stream.set('available', true); };
  Stream.markUnavailable = function () { Stream.set('available', false); };

  var pairing = null; // { deviceId, me, lid, pushname } when linked
  var synced = false;
  var syncScheduled = false;
  var ws = null;
  var connected = false;
  // Welcomed as a linked device on the current socket. Sends go out only then, so the pending queue
  // (resent on 'welcome') always leaves before anything sent after the reconnect: WA Web's offline queue
  // keeps order the same way.
  var streamReady = false;
  var backoffMs = 100;
  var reqSeq = 0;
  var requests = new Map();
  var connectWaiters = [];
  var pendingSends = new Map(); // WA id -> { msg, resolve }
  var heldIncoming = [];
  var loggingOut = false;

  // ---------------------------------------------------------------- IndexedDB (strict durability)
  function idb() {
    return new Promise(function (resolve, reject) {
      var r = indexedDB.open('wa-sim', 1);
      r.onupgradeneeded = function () { r.result.createObjectStore('kv'); };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }
  function idbTx(mode, fn) {
    return idb().then(function (db) {
      return new Promise(function (resolve, reject) {
        // 'strict' makes the commit wait for an fsync: without it a kill -9 right after pairing loses it.
        var tx = db.transaction('kv', mode, { durability: 'strict' });
        var result;
        fn(tx.objectStore('kv'), function (v) { result = v; });
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }
  function loadPairing() {
    return idbTx('readonly', function (store, done) {
      var r = store.get('pairing');
      r.onsuccess = function () { done(r.result || null); };
    }).catch(function (e) { log('pairing load failed', e); return null; });
  }
  function savePairing(p) { return idbTx('readwrite', function (store) { store.put(p, 'pairing'); }); }
  function clearPairing() {
    return idbTx('readwrite', function (store) { store.delete('pairing'); }).catch(function (e) { log('pairing clear failed', e); });
  }

  // ---------------------------------------------------------------- phone server link
  function send(obj) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }
  function whenConnected(timeoutMs) {
    if (connected) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var w = { resolve: resolve };
      connectWaiters.push(w);
      setTimeout(function () {
        var i = connectWaiters.indexOf(w);
        if (i >= 0) { connectWaiters.splice(i, 1); reject(new Error('wa-sim: not connected to the phone server')); }
      }, timeoutMs);
    });
  }
  function request(payload, timeoutMs) {
    return whenConnected(timeoutMs).then(function () {
      return new Promise(function (resolve, reject) {
        var reqId = ++reqSeq;
        requests.set(reqId, { resolve: resolve, reject: reject });
        payload.reqId = reqId;
        if (!send(payload)) { requests.delete(reqId); reject(new Error('wa-sim: connection lost')); return; }
        setTimeout(function () {
          if (requests.delete(reqId)) reject(new Error('wa-sim: request timed out'));
        }, timeoutMs);
      });
    });
  }

  function connect() {
    // Joined as strings: phoneUrl may be an account URL with a path (.../accounts/<id>), which
    // new URL('/ws', phoneUrl) would drop.
    var url = CFG.phoneUrl.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
    var sock;
    try { sock = new WebSocket(url); } catch (e) { log('ws failed', e); retry(); return; }
    ws = sock;
    sock.onopen = function () {
      backoffMs = 100;
      send({ type: 'hello', deviceId: pairing ? pairing.deviceId : null, version: CFG.version });
    };
    sock.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      handle(m);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      connected = false;
      streamReady = false;
      requests.forEach(function (r) { r.reject(new Error('wa-sim: connection lost')); });
      requests.clear();
      // A dropped link while linked is what WA Web shows as TIMEOUT; the library accepts TIMEOUT
      // (no 'disconnected', no destroy) and reports it as change_state.
      if (Socket.state === 'CONNECTED') Socket.set('state', 'TIMEOUT');
      if (!loggingOut) retry();
    };
  }
  function retry() {
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 1000);
  }

  function msgFromRecord(r, isNewMsg) {
    var me = createWid(pairing.me);
    var peer = createWid(r.chat);
    var m = r.media;
    var media = m ? {
      type: m.type, mimetype: m.mimetype, filename: m.filename, size: m.size, filehash: m.filehash, directPath: m.directPath,
      caption: m.caption, isGif: m.isGif === true, mediaKey: m.filehash, mediaKeyTimestamp: r.t, encFilehash: m.filehash,
    } : {};
    return attachMedia(new Msg(Object.assign({
      id: { fromMe: r.fromMe, remote: peer, id: r.id },
      body: m ? '' : r.body,
      type: 'chat',
      t: r.t,
      from: r.fromMe ? me : peer,
      to: r.fromMe ? peer : me,
      self: r.fromMe ? 'out' : 'in',
      ack: r.ack,
      isNewMsg: isNewMsg,
      local: false,
      star: false,
      isForwarded: false,
      forwardingScore: 0,
      broadcast: false,
      mentionedJidList: [],
      groupMentions: [],
    }, media)));
  }

  function mergeHistory(records) {
    records.forEach(function (r) {
      var msg = msgFromRecord(r, false);
      var existing = MsgCollection.get(msg.id);
      if (existing) {
        if (r.ack > existing.ack) existing.set('ack', r.ack);
        return;
      }
      msg = MsgCollection.add(msg);
      addToChat(chatFor(msg.id.remote), msg);
    });
  }

  function listenersReady() { return MsgCollection.listenerCount('add') > 0; }
  // Incoming messages are held until whatsapp-web.js has subscribed to Msg 'add' (after 'ready'), and
  // acknowledged to the phone server only then: the server re-delivers unacknowledged ones on reconnect.
  function deliverIncoming(r) {
    if (!listenersReady()) { heldIncoming.push(r); return; }
    if (MsgCollection.get(true + '_' + r.chat + '_' + r.id) || MsgCollection.get(false + '_' + r.chat + '_' + r.id)) {
      send({ type: 'received', id: r.id });
      return;
    }
    var msg = MsgCollection.add(msgFromRecord(r, true));
    var chat = chatFor(msg.id.remote);
    addToChat(chat, msg);
    chat.set('unreadCount', (chat.unreadCount || 0) + 1);
    send({ type: 'received', id: r.id });
  }
  MsgCollection._onListen = function (name) {
    if (name !== 'add' || !heldIncoming.length) return;
    setTimeout(function () {
      var held = heldIncoming;
      heldIncoming = [];
      held.forEach(deliverIncoming);
    }, 0);
  };

  function maybeFinishSync() {
    if (!synced || Socket.hasSynced || syncScheduled) return;
    if (Socket.listenerCount('change:hasSynced') === 0) return;
    syncScheduled = true;
    setTimeout(function () {
      Cmd.trigger('offline_progress_update_from_bridge');
      Socket.set('hasSynced', true);
    }, 0);
  }
  Socket._onListen = function (name) { if (name === 'change:hasSynced') maybeFinishSync(); };

  function transmit(msg) {
    var media = wireMedia(msg);
    // A media message's body is WhatsApp Web's preview (a thumbnail): the caption is what the recipient reads.
    var body = media ? (msg.caption == null ? '' : String(msg.caption)) : msg.body == null ? '' : String(msg.body);
    return send({ type: 'send', msg: { id: msg.id.id, to: msg.id.remote._serialized, body: body, t: msg.t, msgType: msg.type, media: media } });
  }

  function handle(m) {
    switch (m.type) {
      case 'unpaired':
        connected = true;
        streamReady = false;
        if (pairing) { pairing = null; clearPairing(); }
        Conn.set('ref', m.ref);
        if (Socket.state !== 'UNPAIRED') Socket.set('state', 'UNPAIRED');
        break;
      case 'ref':
        Conn.set('ref', m.ref);
        break;
      case 'paired':
        Socket.set('state', 'PAIRING');
        pairing = { deviceId: m.deviceId, me: m.me, lid: m.lid, pushname: m.pushname };
        savePairing(pairing).then(function () {
          send({ type: 'hello', deviceId: pairing.deviceId, version: CFG.version });
        }, function (e) { log('pairing save failed', e); });
        break;
      case 'welcome':
        connected = true;
        pairing = pairing || { deviceId: m.deviceId };
        pairing.me = m.me; pairing.lid = m.lid; pairing.pushname = m.pushname;
        Conn.set('pushname', m.pushname);
        mergeHistory(m.history);
        Socket.set('stream', 'CONNECTED');
        Socket.set('state', 'CONNECTED');
        connectWaiters.splice(0).forEach(function (w) { w.resolve(); });
        streamReady = true;
        pendingSends.forEach(function (p) { transmit(p.msg); });
        m.pending.forEach(deliverIncoming);
        synced = true;
        maybeFinishSync();
        break;
      case 'ack': {
        var p = pendingSends.get(m.id);
        var msg = p ? p.msg : MsgCollection.getModelsArray().find(function (x) { return x.id.fromMe && x.id.id === m.id; });
        if (msg && m.ack > msg.ack) msg.set('ack', m.ack);
        if (p) { pendingSends.delete(m.id); p.resolve({ messageSendResult: 'OK' }); }
        break;
      }
      case 'incoming':
        deliverIncoming(m.msg);
        break;
      case 'logout':
        logoutFromPhone();
        break;
      case 'codecs':
        videoCodecs = m.video !== false;
        break;
      case 'result': {
        var r = requests.get(m.reqId);
        if (!r) break;
        requests.delete(m.reqId);
        if (m.ok) r.resolve(m.value); else r.reject(new Error(m.error));
        break;
      }
      default:
        log('unknown message', m.type);
    }
  }

  // The phone unlinked this device. WA Web wipes its storage and reloads; whatsapp-web.js 1.34.7 turns
  // Cmd 'logout' + the following navigation into 'disconnected' with reason 'LOGOUT' (Client.js
  // onLogoutEvent / framenavigated), then deletes the LocalAuth profile and re-injects.
  function logoutFromPhone() {
    if (loggingOut) return;
    loggingOut = true;
    pairing = null;
    clearPairing().then(function () {
      Cmd.trigger('logout');
      // The binding call above reaches Node before the reload's intercepted request does (one CDP
      // session, in order), so the library has set lastLoggedOut when it sees the navigation.
      setTimeout(function () { location.reload(); }, 0);
    });
  }

  Socket.logout = function () {
    loggingOut = true;
    return request({ type: 'unlink' }, 3000).catch(function (e) { log('unlink failed', e); }).then(function () {
      pairing = null;
      return clearPairing();
    });
  };
  Socket.reconnect = function () { if (ws) ws.close(); };
  Socket.takeover = function () {};
  Cmd.refreshQR = function () { send({ type: 'refresh-qr' }); };

  // ---------------------------------------------------------------- registration material for the QR
  var noisePub = crypto.getRandomValues(new Uint8Array(32));
  var identityPub = crypto.getRandomValues(new Uint8Array(32));
  var advSecret = crypto.getRandomValues(new Uint8Array(32));
  function b64(bytes) { return btoa(String.fromCharCode.apply(null, Array.from(bytes))); }

  // ---------------------------------------------------------------- media (whatsapp-web.js processMediaData, downloadMedia)
  // What the library touches (Utils.js processMediaData / processStickerData, Message.js downloadMedia):
  // WAWebMediaOpaqueData (the export itself is the class: the library uses instanceof on it), prepRawMedia,
  // the media object store, the media types, the upload and the download. The bytes go to the phone
  // server in an 'upload' request (never in the 'send' frame, which is re-sent after every reconnect);
  // the message carries the metadata and the directPath the upload returned.
  function bytesToB64(bytes) {
    var out = '';
    for (var i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(out);
  }
  function b64ToBytes(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function blobBytes(blob) { return blob.arrayBuffer().then(function (buf) { return new Uint8Array(buf); }); }
  function sha256B64(blob) {
    return blob.arrayBuffer().then(function (buf) { return crypto.subtle.digest('SHA-256', buf); })
      .then(function (hash) { return bytesToB64(new Uint8Array(hash)); });
  }
  /** filehash → Blob: what this page prepared (the upload gets no bytes, only the media object) or downloaded. */
  var localBlobs = new Map();

  function OpaqueData(blob) { hide(this, '_blob', blob); }
  OpaqueData.createFromData = function (data, mimetype) {
    return Promise.resolve(new OpaqueData(data instanceof Blob ? data : new Blob([data], { type: mimetype || '' })));
  };
  OpaqueData.prototype.url = function () { return 'blob:wa-sim/' + this._blob.size; };
  OpaqueData.prototype.autorelease = function () {};
  OpaqueData.prototype.formData = function () { return this._blob; };
  OpaqueData.prototype.forceToBlob = function () { return this._blob; };

  // The prep result. Methods on the prototype and the blob hidden: the library spreads its own fields
  // into the new Msg (an own 'set' would shadow Model.prototype.set; a blob would be serialised).
  function MediaData(attrs) { this.set(attrs); }
  MediaData.prototype.set = function (attrs) {
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) this[k] = attrs[k];
    return this;
  };
  MediaData.prototype.toJSON = function () {
    var out = {};
    for (var k in this) if (Object.prototype.hasOwnProperty.call(this, k)) out[k] = this[k];
    return out;
  };
  // WhatsApp Web's order: asDocument, then asSticker, else by the file's type; isPtt turns audio into ptt.
  function outwardType(mimetype, params) {
    if (params.asDocument === true) return 'document';
    if (params.asSticker === true) return 'sticker';
    if (/^image\//.test(mimetype)) return 'image';
    if (/^video\//.test(mimetype)) return 'video';
    if (/^audio\//.test(mimetype)) return params.isPtt === true ? 'ptt' : 'audio';
    return 'document';
  }
  function prepRawMedia(opaque, params) {
    params = params || {};
    var blob = opaque._blob;
    var prep = sha256B64(blob).then(function (filehash) {
      if (blob.size <= 0) throw new Error('MediaFileEmpty');
      var type = outwardType(blob.type, params);
      localBlobs.set(filehash, blob);
      var data = new MediaData({
        type: type,
        mimetype: blob.type,
        filehash: filehash,
        size: blob.size,
        // Only documents keep a file name (WhatsApp Web: cleanFilename(file.name)).
        filename: type === 'document' ? blob.name : undefined,
        isGif: type === 'video' && params.asGif === true,
      });
      hide(data, 'mediaBlob', opaque);
      return data;
    });
    return { waitForPrep: function () { return prep; } };
  }
  var mediaObjects = new Map();
  function MediaObject(filehash) { this.filehash = filehash; this.contentInfo = {}; }
  MediaObject.prototype.consolidate = function (json) {
    var self = this;
    ['type', 'size', 'mimetype', 'filehash', 'isGif'].forEach(function (k) { if (json[k] !== undefined) self[k] = json[k]; });
  };
  function getOrCreateMediaObject(filehash) {
    var found = mediaObjects.get(filehash);
    if (!found) { found = new MediaObject(filehash); mediaObjects.set(filehash, found); }
    return found;
  }
  function uploadBlob(blob, filehash, mediaType) {
    localBlobs.set(filehash, blob);
    return blobBytes(blob).then(function (bytes) {
      return request({ type: 'upload', mediaType: mediaType, mimetype: blob.type, filehash: filehash, data: bytesToB64(bytes) }, 120000);
    });
  }
  function mediaEntry(r) {
    var url = 'https://mmg.whatsapp.net' + r.directPath;
    return { mmsUrl: url, deprecatedMms3Url: url, directPath: r.directPath, mediaKey: r.mediaKey, mediaKeyTimestamp: r.mediaKeyTimestamp,
      encFilehash: r.encFilehash, uploadHash: r.encFilehash, sidecar: undefined, firstFrameSidecar: undefined, handle: null };
  }
  function uploadMedia(d) {
    var filehash = d.mediaObject.filehash;
    var blob = localBlobs.get(filehash);
    if (!blob) return Promise.reject(new Error('wa-sim: no prepared media for ' + filehash));
    return uploadBlob(blob, filehash, d.mediaType).then(function (r) { return { mediaEntry: mediaEntry(r) }; });
  }
  // Stickers (processStickerData): the upload info itself, not { mediaEntry }.
  function encryptAndUpload(o) {
    var blob = o.blob;
    return sha256B64(blob).then(function (filehash) { return uploadBlob(blob, filehash, o.type); }).then(function (r) {
      var e = mediaEntry(r);
      return { url: e.mmsUrl, directPath: e.directPath, encFilehash: e.encFilehash, mediaKey: o.mediaKey, mediaKeyTimestamp: e.mediaKeyTimestamp, mimetype: blob.type };
    });
  }
  // WhatsApp Web draws the image on a canvas: a 512x512 WebP.
  function toWebpSticker(file) {
    return createImageBitmap(file).then(function (bitmap) {
      var canvas = new OffscreenCanvas(512, 512);
      var scale = Math.min(512 / bitmap.width, 512 / bitmap.height);
      var w = Math.round(bitmap.width * scale), h = Math.round(bitmap.height * scale);
      canvas.getContext('2d').drawImage(bitmap, (512 - w) / 2, (512 - h) / 2, w, h);
      return canvas.convertToBlob({ type: 'image/webp' });
    });
  }
  function downloadAndMaybeDecrypt(o) {
    var local = o.filehash && localBlobs.get(o.filehash);
    if (local) return local.arrayBuffer();
    return request({ type: 'download', directPath: o.directPath }, 120000).then(function (r) {
      if (!r || typeof r.data !== 'string') { var e = new Error('wa-sim: media not found'); e.status = 404; throw e; }
      return b64ToBytes(r.data).buffer;
    });
  }
  /** A Msg with media: the hidden media state downloadMedia() reads (the bytes are fetched on demand). */
  function attachMedia(msg) {
    if (!msg.directPath) return msg;
    hide(msg, 'mediaData', { mediaStage: 'RESOLVED', filehash: msg.filehash, mimetype: msg.mimetype, size: msg.size, type: msg.type });
    if (msg.filehash) hide(msg, 'mediaObject', getOrCreateMediaObject(msg.filehash));
    return msg;
  }
  /** The media fields of a 'send' frame (no bytes: they went up in the upload). */
  function wireMedia(msg) {
    if (!msg.directPath) return undefined;
    return { type: msg.type, mimetype: msg.mimetype || '', filename: msg.filename, size: msg.size, filehash: msg.filehash, directPath: msg.directPath, caption: msg.caption, isGif: msg.isGif === true };
  }
  // A Chromium built without the proprietary codecs cannot decode H.264/AAC: the phone server can make
  // this page answer as one (SimPhone.setVideoCodecs), for what a gateway does about videos then.
  var videoCodecs = true;
  if (typeof MediaSource !== 'undefined') {
    var isTypeSupported = MediaSource.isTypeSupported.bind(MediaSource);
    MediaSource.isTypeSupported = function (type) {
      return !videoCodecs && /avc1|mp4a|h264|aac/i.test(String(type)) ? false : isTypeSupported(type);
    };
  }
  var mediaModules = {
    WAWebMediaOpaqueData: OpaqueData,
    WAWebPrepRawMedia: { prepRawMedia: prepRawMedia },
    WAWebMediaStorage: { getOrCreateMediaObject: getOrCreateMediaObject },
    WAWebMmsMediaTypes: {
      msgToMediaType: function (o) { return o.type === 'video' && o.isGif === true ? 'gif' : o.type; },
      castToV4: function (t) { return t == null ? 'document' : t; },
    },
    WAWebMediaDataUtils: { shouldUseMediaCache: function () { return false; } },
    WAWebMediaMmsV4Upload: { uploadMedia: uploadMedia, uploadUnencryptedMedia: uploadMedia },
    WAWebUploadManager: { encryptAndUpload: encryptAndUpload },
    WAWebStartMediaUploadQpl: { startMediaUploadQpl: function () { return {}; } },
    WAWebImageUtils: { toWebpSticker: toWebpSticker },
    WAWebDownloadManager: { downloadManager: { downloadAndMaybeDecrypt: downloadAndMaybeDecrypt } },
  };

  // ---------------------------------------------------------------- actions used by whatsapp-web.js
  function findOrCreateLatestChat(wid) {
    wid = createWid(wid);
    var existing = ChatCollection.get(wid);
    if (existing) return Promise.resolve({ chat: existing, created: false });
    return request({ type: 'query', op: 'exists', jid: wid._serialized }, 10000).then(function (exists) {
      // WhatsApp Web 2.3000.x rejects a number with no account this way (seen through whatsapp-web.js
      // 1.34.x as "Error: No LID for user" from client.sendMessage / getChatById).
      if (!exists) throw new Error('No LID for user');
      return { chat: chatFor(wid), created: true };
    });
  }

  function addAndSendMsgToChat(chat, data) {
    var msg = MsgCollection.add(attachMedia(new Msg(data)));
    addToChat(chat, msg);
    var result = new Promise(function (resolve) { pendingSends.set(msg.id.id, { msg: msg, resolve: resolve }); });
    // Not yet welcomed on this socket: the message waits in pendingSends, sent in order on 'welcome'.
    if (streamReady) transmit(msg);
    return [Promise.resolve([msg]), result];
  }

  var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  function findLinks(text) {
    if (typeof text !== 'string') return [];
    return (text.match(URL_RE) || []).map(function (href) { return { href: href, url: href, suspiciousCharacters: undefined }; });
  }

  var modules = {
    WAWebSocketModel: { Socket: Socket },
    WAWebCmd: { Cmd: Cmd },
    WAWebConnModel: { Conn: Conn },
    WAWebOfflineHandler: { OfflineMessageHandler: { getOfflineDeliveryProgress: function () { return 100; } } },
    // Linking by code: the server issues an 8-character code for the number; the phone of that number
    // enters it (POST /phone/link-code) and this page is paired as if its QR had been scanned.
    WAWebAltDeviceLinkingApi: {
      setPairingType: function () {},
      initializeAltDeviceLinking: function () { return Promise.resolve(); },
      startAltLinkingFlow: function (phoneNumber) { return request({ type: 'pairing-code', phone: String(phoneNumber) }, 10000); },
    },
    WABase64: { encodeB64: b64 },
    WAWebCompanionRegClientUtils: {},
    WAWebAdvSignatureApi: {},
    WAWebUserPrefsInfoStore: {},
    WAWebSignalStoreApi: {
      waSignalStore: { getRegistrationInfo: function () { return Promise.resolve({ identityKeyPair: { pubKey: identityPub } }); } },
      waNoiseInfo: { get: function () { return Promise.resolve({ staticKeyPair: { pubKey: noisePub } }); } },
      DEVICE_PLATFORM: 'WEB',
    },
    WAWebUserPrefsMultiDevice: { getADVSecretKey: function () { return b64(advSecret); } },
    WAWebUserPrefsMeUser: {
      getMaybeMePnUser: function () { return pairing && pairing.me ? createWid(pairing.me) : null; },
      getMaybeMeLidUser: function () { return pairing && pairing.lid ? createWid(pairing.lid) : null; },
    },
    WAWebCollections: { Msg: MsgCollection, Chat: ChatCollection },
    // The library assigns isPlaceholderMessageResendEnabled on it: it must be a plain object.
    WAWebSyncGatingUtils: {},
    WAWebWidFactory: {
      createWid: createWid,
      createWidFromWidLike: createWid,
      asUserWidOrThrow: function (w) { return createWid(w); },
    },
    WAWebFindChatAction: { findOrCreateLatestChat: findOrCreateLatestChat },
    WAWebStreamModel: { Stream: Stream },
    WAWebUpdateUnreadChatAction: {
      sendSeen: function (o) { if (o && o.chat) o.chat.set('unreadCount', 0); return Promise.resolve(); },
    },
    WAWebChatGetters: {
      getIsNewsletter: function (c) { return c.id.server === 'newsletter'; },
      getIsBroadcast: function (c) { return c.id.server === 'broadcast'; },
      getIsGroup: function (c) { return c.id.server === 'g.us'; },
    },
    WALinkify: { findLink: function (t) { return findLinks(t)[0] || null; }, findLinks: findLinks },
    WAWebLinkPreviewChatAction: { getLinkPreview: function () { return Promise.resolve({}); } },
    WAWebMsgKey: MsgKey,
    WAWebGetEphemeralFieldsMsgActionsUtils: { getEphemeralFields: function () { return {}; } },
    WAWebSendMsgChatAction: { addAndSendMsgToChat: addAndSendMsgToChat },
    WAWebQueryExistsJob: {
      queryWidExists: function (wid) {
        wid = createWid(wid);
        return request({ type: 'query', op: 'exists', jid: wid._serialized }, 10000).then(function (exists) {
          return exists ? { wid: wid } : null;
        });
      },
    },
    WAWebChatLoadMessages: { loadEarlierMsgs: function () { return Promise.resolve([]); } },
    WAWebChatStateBridge: {
      sendChatStateComposing: function (w) { send({ type: 'chatstate', to: keyOf(w), state: 'typing' }); return Promise.resolve(); },
      sendChatStateRecording: function (w) { send({ type: 'chatstate', to: keyOf(w), state: 'recording' }); return Promise.resolve(); },
      sendChatStatePaused: function (w) { send({ type: 'chatstate', to: keyOf(w), state: 'stop' }); return Promise.resolve(); },
    },
    WAWebMiscBrowserUtils: { info: function () { return { name: 'Chrome', version: '0', os: 'wa-sim' }; } },
  };

  Object.keys(mediaModules).forEach(function (name) { modules[name] = mediaModules[name]; });
  window.require = function (name) {
    if (Object.prototype.hasOwnProperty.call(modules, name)) return modules[name];
    if (missing.indexOf(name) < 0) missing.push(name);
    return undefined;
  };
  window.__waSim = { missing: missing, version: CFG.version, provided: Object.keys(modules) };

  loadPairing().then(function (p) {
    pairing = p;
    connect();
  });
  // Last: whatsapp-web.js polls for Debug.VERSION and then starts injecting.
  window.Debug = { VERSION: CFG.version };
})();
`;
