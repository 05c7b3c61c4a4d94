// loopcast.js: the client for a loopcast server, served by it at /loopcast.js.
// An ES module without dependencies for browsers, Node >= 22, Deno and Bun.
// Types: /loopcast.d.ts. It reconnects with capped, jittered backoff, rejoins
// rooms with the last seq seen (each message once, in order; gaps reported),
// paces itself by the limits the server announces, and turns ref/ack/error
// into promises. Calls made while disconnected wait in a bounded queue.

export class LoopcastError extends Error {
  constructor(code, message, extra) {
    super(message || code);
    this.name = 'LoopcastError';
    this.code = code;
    Object.assign(this, extra);
  }
}

export const connect = (url, options) => new Loopcast(url, options);

const REFUSED = [400, 401, 403, 404, 409];
const size = s => new TextEncoder().encode(s).length;

export class Loopcast {
  constructor(url = '/ws', o = {}) {
    this.options = o = { timeout: 10000, queue: 100, minDelay: 500, maxDelay: 15000, ...o };
    const base = globalThis.location && location.href;
    const u = new URL(url, base);
    u.protocol = u.protocol.replace(/^http/, 'ws');
    const key = o.key !== undefined ? o.key : browserKey();
    for (const [k, v] of [['user', o.user], ['token', o.token], ['key', key]]) if (v) u.searchParams.set(k, v);
    this.url = u.href;
    this.state = 'connecting';
    this.user = o.user || null;
    this.id = null;
    this.limits = null;
    this.rooms = new Map();
    this._on = new Map();
    this._wait = new Map();
    this._queue = [];
    this._ref = 0;
    this._tries = 0;
    this._typing = new Map();
    for (const r of o.rooms || []) {
      const [room, password] = typeof r === 'string' ? [r] : [r.room, r.password];
      this.rooms.set(room, { room, password, seq: 0, mode: 'join' });
    }
    this._open();
  }

  on(event, fn) {
    if (!this._on.has(event)) this._on.set(event, new Set());
    this._on.get(event).add(fn);
    return () => this._on.get(event).delete(fn);
  }

  join(room, { password } = {}) {
    return this._call({ action: 'join', room, password });
  }
  leave(room) {
    this.rooms.delete(room);
    return this._call({ action: 'leave', room });
  }
  subscribe(topic, fn) {
    return this._call({ action: 'subscribe', topic, fn });
  }
  unsubscribe(topic) {
    this.rooms.delete(topic);
    return this._call({ action: 'unsubscribe', topic });
  }
  publish(room, message) { return this._call({ action: 'publish', room, message }); }
  notify(user, message) { return this._call({ action: 'notify', user, message }); }
  broadcast(message) { return this._call({ action: 'broadcast', message }); }
  members(room) { return this._call({ action: 'members', room }); }
  list() { return this._call({ action: 'rooms' }); }
  create(room, opts = {}) { return this._call({ action: 'create', room, ...opts }); }

  // Sends `true` at most every 2.5 s while on (the server forwards renewals),
  // `false` once; never queued, never paced (typing has its own allowance).
  typing(room, on) {
    const last = this._typing.get(room) || 0, now = Date.now();
    if (on ? now - last < 2500 : !last) return;
    this._typing.set(room, on ? now : 0);
    if (this._ws && this.state === 'open') this._ws.send(JSON.stringify({ action: 'typing', room, value: !!on }));
  }

  // Drops the connection and stays offline, rooms and seqs kept, until reconnect().
  disconnect() {
    if (this.state === 'closed' || this.state === 'refused') return;
    clearTimeout(this._timer);
    this._drop(new LoopcastError('disconnected', 'disconnected'));
    this._set('offline');
  }

  // Drops the connection (if any) and connects again now (e.g. after a network change).
  reconnect() {
    if (this.state === 'closed' || this.state === 'refused') return;
    clearTimeout(this._timer);
    this._drop(new LoopcastError('disconnected', 'reconnecting'));
    this._set('connecting');
    this._open();
  }

  close() {
    clearTimeout(this._timer);
    this._drop(new LoopcastError('closed', 'client closed'));
    this._stop('closed');
  }

  _emit(event, data) {
    for (const fn of this._on.get(event) || []) {
      try { fn(data); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
  }

  _set(state, extra) {
    this.state = state;
    this._emit('state', { state, ...extra });
  }

  _open() {
    const ws = this._ws = new WebSocket(this.url);
    let welcomed = false;
    ws.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m.event === 'welcome') welcomed = true;
      this._event(m);
    };
    ws.onclose = e => { if (this._ws === ws) this._closed(e, welcomed); };
    // Some runtimes report a failed handshake with `error` alone.
    ws.onerror = () => setTimeout(() => ws.onclose && ws.onclose({ code: 1006, reason: '' }), 100);
  }

  _drop(err) {
    const ws = this._ws;
    this._ws = null;
    if (ws) { ws.onmessage = ws.onclose = ws.onerror = null; try { ws.close(1000); } catch {} }
    this._bucket = null;
    for (const p of this._wait.values()) clearTimeout(p.timer), p.reject(err);
    this._wait.clear();
    this._typing.clear();
  }

  _stop(state, extra) {
    for (const p of this._queue.splice(0)) p.reject(new LoopcastError(state, `client ${state}`));
    this._set(state, extra);
  }

  async _closed(e, welcomed) {
    this._drop(new LoopcastError('disconnected', 'connection lost before the answer'));
    const reason = e.reason || '';
    if (e.code === 1008) {
      this._emit('error', new LoopcastError('policy', reason || 'closed by server policy', { close: 1008 }));
      return this._stop('closed', { code: 1008, reason });
    }
    if (!welcomed) {
      // A refused upgrade shows as a bare 1006: a plain request to the same URL says why.
      try {
        const r = await fetch(this.url.replace(/^ws/, 'http'));
        if (REFUSED.includes(r.status)) {
          const why = (await r.text()).trim();
          this._emit('error', new LoopcastError('refused', why, { status: r.status }));
          return this._stop('refused', { status: r.status, reason: why });
        }
      } catch {}
      if (this.state === 'closed') return;
    }
    const slow = e.code === 1013;
    const cap = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** this._tries++);
    const delay = Math.round((slow ? Math.max(cap, 5000) : cap) * (0.5 + Math.random() / 2));
    this._set('reconnecting', { code: e.code, reason, delay });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _call(obj) {
    return new Promise((resolve, reject) => {
      if (this.state === 'closed' || this.state === 'refused') {
        return reject(new LoopcastError(this.state, `client ${this.state}`));
      }
      if (this._queue.length >= this.options.queue) {
        return reject(new LoopcastError('queue_full', 'too many calls waiting for the connection'));
      }
      this._queue.push({ obj, resolve, reject, tries: 0 });
      this._flush();
    });
  }

  // Sends queued calls while connected, within the announced rate.
  _flush() {
    clearTimeout(this._pace);
    const b = this._bucket;
    while (this._ws && b && this._queue.length) {
      const now = Date.now();
      if (b.rate) {
        b.tokens = Math.min(b.burst, b.tokens + (now - b.at) * b.rate / 1000);
        b.at = now;
        if (b.tokens < 1) {
          this._pace = setTimeout(() => this._flush(), Math.ceil((1 - b.tokens) * 1000 / b.rate));
          return;
        }
        b.tokens -= 1;
      }
      this._send(this._queue.shift());
    }
  }

  _send(p) {
    const { fn, ...obj } = p.obj;
    const ref = obj.ref = ++this._ref;
    const text = JSON.stringify(obj);
    const max = this.limits && this.limits.max_message;
    if (max && size(text) > max) {
      return p.reject(new LoopcastError('too_big', `over the server's ${max}-byte message limit`, { max }));
    }
    p.fn = fn;
    p.timer = setTimeout(() => {
      this._wait.delete(ref);
      p.reject(new LoopcastError('timeout', `no answer in ${this.options.timeout} ms`));
    }, this.options.timeout);
    this._wait.set(ref, p);
    this._ws.send(text);
  }

  _event(m) {
    const p = m.ref != null ? this._wait.get(m.ref) : null;
    switch (m.event) {
      case 'welcome': {
        this.id = m.id;
        this.user = m.user;
        this.limits = m.limits || null;
        const l = this.limits || {};
        // A little under the server's rate, so clock drift never trips it.
        this._bucket = { rate: (l.rate || 0) * 0.9, burst: Math.max(1, (l.burst || 1) - 1), tokens: 1, at: Date.now() };
        this._bucket.tokens = this._bucket.burst;
        this._tries = 0;
        // Rejoins go first, each asking only for what was missed.
        const again = [...this.rooms.values()].map(r => ({
          again: true,
          tries: 0,
          obj: r.mode === 'join'
            ? { action: 'join', room: r.room, password: r.password, since: r.seq, epoch: r.epoch }
            : { action: 'subscribe', topic: r.room, password: r.password, fn: r.fn },
          resolve() {},
          reject: e => {
            if (e.code === 'disconnected') return;
            this.rooms.delete(r.room);
            this._emit('error', Object.assign(e, { room: r.room }));
          },
        }));
        this._queue = [...again, ...this._queue.filter(q => !q.again)];
        this._set('open', { id: m.id, user: m.user });
        this._flush();
        break;
      }
      case 'room': return this._room(m, this._answering('join', m.room));
      case 'history': return this._replay(m.room, m.history);
      case 'message': {
        const r = m.room != null && this.rooms.get(m.room);
        if (r && typeof m.seq === 'number') {
          if (m.seq <= r.seq) return;
          r.seq = m.seq;
          if (m.epoch) r.epoch = m.epoch;
        }
        this._emit('message', m);
        if (r && r.fn) r.fn(m);
        return;
      }
      case 'ack': {
        if (!p) return;
        this._wait.delete(m.ref);
        clearTimeout(p.timer);
        const { action, topic } = p.obj;
        if (action === 'subscribe' && !this.rooms.has(topic)) {
          this.rooms.set(topic, { room: topic, password: p.obj.password, seq: 0, mode: 'subscribe', fn: p.fn });
        }
        return p.resolve(p.answer || m);
      }
      case 'error': {
        const e = new LoopcastError(m.code, m.message, { ref: m.ref });
        if (!p) return this._emit('error', e);
        this._wait.delete(m.ref);
        clearTimeout(p.timer);
        // Over the rate anyway (another limit, a slow clock): try again shortly.
        if (m.code === 'rate_limited' && p.tries++ < 3) {
          this._queue.unshift(p);
          return void setTimeout(() => this._flush(), 1000);
        }
        return p.reject(e);
      }
      default:
        // joined, left, typing, members, rooms: as they come.
        if (m.event === 'members' || m.event === 'rooms') {
          const w = this._answering(m.event, m.room);
          if (w) w.answer = m;
        }
        this._emit(m.event, m);
    }
  }

  // The call an answer without a ref belongs to (the server answers in order).
  _answering(action, room) {
    for (const w of this._wait.values()) if (w.obj.action === action && w.obj.room === room && !w.answer) return w;
  }

  // The answer to a join or rejoin: where we stand, then the missed messages.
  _room(m, p) {
    let r = this.rooms.get(m.room);
    const known = !!(r && r.seen);
    if (!r) {
      const o = p && p.obj;
      r = { room: m.room, password: o && o.room === m.room ? o.password : undefined, seq: 0, mode: 'join' };
      this.rooms.set(m.room, r);
    }
    r.mode = 'join';
    r.seen = true;
    // A seq below ours or another epoch: the room was made anew, all its history is new.
    const reset = known && (m.seq < r.seq || (m.epoch && r.epoch && m.epoch !== r.epoch));
    if (reset) r.seq = 0;
    if (m.epoch) r.epoch = m.epoch;
    const answer = { ...m, gap: !!m.gap || !!reset, reset: !!reset, rejoin: known };
    if (p) p.answer = answer;
    this._emit('room', answer);
    this._replay(m.room, m.history);
  }

  _replay(room, history) {
    for (const x of history || []) this._event({ room, ...x, event: 'message' });
  }
}

// A random key per browser, kept in localStorage: the server binds an online
// name to it, so nobody else can take the name while it is in use.
function browserKey() {
  try {
    let k = localStorage.getItem('loopcast.key');
    if (!k) {
      k = [...crypto.getRandomValues(new Uint8Array(16))].map(b => b.toString(16).padStart(2, '0')).join('');
      localStorage.setItem('loopcast.key', k);
    }
    return k;
  } catch {
    return null;
  }
}
