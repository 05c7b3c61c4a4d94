// The loopcast client (types: /loopcast.d.ts, guide: README "Write your own client").

export class LoopcastError extends Error {
  constructor(code, message, extra) {
    super(message || code);
    Object.assign(this, { name: 'LoopcastError', code }, extra);
  }
}
const E = (code, message, extra) => new LoopcastError(code, message, extra);

export const connect = (url, options) => new Loopcast(url, options);

export class Loopcast {
  constructor(url = '/ws', o = {}) {
    this.options = o = { timeout: 10000, queue: 100, minDelay: 500, maxDelay: 15000, ...o };
    const u = new URL(url, globalThis.location?.href);
    u.protocol = u.protocol.replace(/^http/, 'ws');
    const key = o.key !== undefined ? o.key : browserKey();
    for (const [k, v] of [['user', o.user], ['token', o.token], ['key', key]]) if (v) u.searchParams.set(k, v);
    Object.assign(this, { url: u.href, state: 'connecting', user: o.user || null, id: null, limits: null, rooms: new Map() });
    Object.assign(this, { _on: new Map(), _wait: new Map(), _queue: [], _ref: 0, _tries: 0, _typing: new Map() });
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
  join(room, { password } = {}) { return this._call({ action: 'join', room, password }); }
  leave(room) { this.rooms.delete(room); return this._call({ action: 'leave', room }); }
  subscribe(topic, fn) { return this._call({ action: 'subscribe', topic, fn }); }
  unsubscribe(topic) { this.rooms.delete(topic); return this._call({ action: 'unsubscribe', topic }); }
  publish(room, message) { return this._call({ action: 'publish', room, message }); }
  notify(user, message) { return this._call({ action: 'notify', user, message }); }
  broadcast(message) { return this._call({ action: 'broadcast', message }); }
  members(room) { return this._call({ action: 'members', room }); }
  list() { return this._call({ action: 'rooms' }); }
  create(room, opts = {}) { return this._call({ action: 'create', room, ...opts }); }

  // `true` at most every 2.5 s, `false` once; not queued or paced.
  typing(room, on) {
    const last = this._typing.get(room) || 0, now = Date.now();
    if (on ? now - last < 2500 : !last) return;
    this._typing.set(room, on ? now : 0);
    if (this.state === 'open') this._ws.send(JSON.stringify({ action: 'typing', room, value: !!on }));
  }

  // Offline (rooms and seqs kept) until reconnect(), which works at any time.
  disconnect(again) {
    if (this._final()) return;
    clearTimeout(this._timer);
    this._drop(E('disconnected', 'disconnected'));
    this._set(again ? 'connecting' : 'offline');
    if (again) this._open();
  }
  reconnect() { this.disconnect(true); }
  close() {
    clearTimeout(this._timer);
    this._drop(E('closed', 'client closed'));
    this._stop('closed');
  }

  _final() { return this.state === 'closed' || this.state === 'refused'; }
  _emit(event, data) {
    for (const fn of this._on.get(event) || []) try { fn(data); } catch (e) { queueMicrotask(() => { throw e; }); }
  }
  _set(state, extra) { this.state = state; this._emit('state', { state, ...extra }); }

  _open() {
    const ws = this._ws = new WebSocket(this.url);
    let welcomed = false;
    ws.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      welcomed ||= m.event === 'welcome';
      this._event(m);
    };
    ws.onclose = e => this._closed(e, welcomed);
    // Some runtimes report a failed handshake with `error` alone.
    ws.onerror = () => setTimeout(() => ws.onclose?.({ code: 1006, reason: '' }), 100);
  }

  _drop(err) {
    const ws = this._ws;
    if (ws) ws.onmessage = ws.onclose = ws.onerror = null, ws.close();
    this._ws = this._bucket = null;
    for (const p of this._wait.values()) clearTimeout(p.timer), p.reject(err);
    this._wait.clear();
    this._typing.clear();
  }

  _stop(state, extra) {
    for (const p of this._queue.splice(0)) p.reject(E(state, `client ${state}`));
    this._set(state, extra);
  }

  async _closed(e, welcomed) {
    this._drop(E('disconnected', 'connection lost before the answer'));
    const { code } = e, reason = e.reason || '';
    if (code === 1008) {
      this._emit('error', E('policy', reason || 'closed by server policy'));
      return this._stop('closed', { code, reason });
    }
    if (!welcomed) {
      // A refused upgrade shows as a bare 1006: a plain request to the same URL says why.
      try {
        const r = await fetch(this.url.replace(/^ws/, 'http'));
        if ([400, 401, 403, 404, 409].includes(r.status)) {
          const why = (await r.text()).trim();
          this._emit('error', E('refused', why, { status: r.status }));
          return this._stop('refused', { status: r.status, reason: why });
        }
      } catch {}
      if (this._ws || this._final() || this.state === 'offline') return; // changed meanwhile
    }
    const o = this.options, cap = Math.min(o.maxDelay, o.minDelay * 2 ** this._tries++);
    // After 1013 (too slow to keep up) wait longer.
    const delay = Math.round((code === 1013 ? Math.max(cap, 5000) : cap) * (0.5 + Math.random() / 2));
    this._set('reconnecting', { code, reason, delay });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _call(obj) {
    return new Promise((resolve, reject) => {
      const s = this.state, end = this._final();
      if (end || this._queue.length >= this.options.queue) {
        return reject(E(end ? s : 'queue_full', end ? `client ${s}` : 'too many calls waiting'));
      }
      this._queue.push({ obj, resolve, reject, tries: 0 });
      this._flush();
    });
  }

  _flush() {
    clearTimeout(this._pace);
    for (let b = this._bucket; b && this._queue.length;) {
      const now = Date.now();
      if (b.rate) {
        b.tokens = Math.min(b.burst, b.tokens + (now - b.at) * b.rate / 1000);
        b.at = now;
        if (b.tokens < 1) return void (this._pace = setTimeout(() => this._flush(), (1 - b.tokens) * 1000 / b.rate));
        b.tokens--;
      }
      this._send(this._queue.shift());
    }
  }

  _send(p) {
    const { fn, ...obj } = p.obj, ref = obj.ref = ++this._ref, text = JSON.stringify(obj);
    const max = this.limits?.max_message;
    if (max && new TextEncoder().encode(text).length > max) {
      return p.reject(E('too_big', `over the server's ${max}-byte limit`, { max }));
    }
    p.fn = fn;
    p.timer = setTimeout(() => {
      this._wait.delete(ref);
      p.reject(E('timeout', `no answer in ${this.options.timeout} ms`));
    }, this.options.timeout);
    this._wait.set(ref, p);
    this._ws.send(text);
  }

  _event(m) {
    const p = m.ref != null && this._wait.get(m.ref);
    switch (m.event) {
      case 'welcome': {
        Object.assign(this, { id: m.id, user: m.user, limits: m.limits || null, _tries: 0 });
        const l = this.limits || {}, burst = Math.max(1, (l.burst || 1) - 1);
        // A little under the server's rate, so clock drift never trips it.
        this._bucket = { rate: (l.rate || 0) * 0.9, burst, tokens: burst, at: Date.now() };
        // Rejoins go first, each asking only for what was missed.
        const again = [...this.rooms.values()].map(r => ({
          again: true, tries: 0, resolve() {},
          obj: r.mode === 'join'
            ? { action: 'join', room: r.room, password: r.password, since: r.seq, epoch: r.epoch }
            : { action: 'subscribe', topic: r.room, password: r.password, fn: r.fn },
          reject: e => {
            if (e.code === 'disconnected' || e.code === 'timeout') return; // tried again later
            this.rooms.delete(r.room);
            this._emit('error', Object.assign(e, { room: r.room }));
          },
        }));
        this._queue = [...again, ...this._queue.filter(q => !q.again)];
        this._set('open', { id: m.id, user: m.user });
        return this._flush();
      }
      case 'room': return this._room(m, this._answering('join', m.room));
      case 'history': return this._replay(m);
      case 'message': {
        const r = m.room != null && this.rooms.get(m.room);
        if (r && typeof m.seq === 'number') {
          if (m.seq <= r.seq) return;
          r.seq = m.seq;
          if (m.epoch) r.epoch = m.epoch;
        }
        this._emit('message', m);
        return r?.fn?.(m);
      }
      case 'ack': {
        if (!p) return;
        this._wait.delete(m.ref);
        clearTimeout(p.timer);
        const { action, topic, password } = p.obj;
        if (action === 'subscribe' && !this.rooms.has(topic)) {
          this.rooms.set(topic, { room: topic, password, seq: 0, mode: 'subscribe', fn: p.fn });
        }
        return p.resolve(p.answer || m);
      }
      case 'error': {
        const e = E(m.code, m.message, { ref: m.ref });
        if (!p) return this._emit('error', e);
        this._wait.delete(m.ref);
        clearTimeout(p.timer);
        // Over the rate anyway (a slow clock): retry shortly.
        if (m.code === 'rate_limited' && p.tries++ < 3) {
          this._queue.unshift(p);
          return void setTimeout(() => this._flush(), 1000);
        }
        return p.reject(e);
      }
      case 'members': case 'rooms': {
        const w = this._answering(m.event, m.room), list = m[m.event] || [];
        if (w) w.answer = m;
        // Long lists come in pages, each an event.
        if (m.more) this._more(m.event, m.room, (m.offset || 0) + list.length);
      }
    }
    this._emit(m.event, m);
  }

  // The call an answer without a ref belongs to.
  _answering(action, room) {
    for (const w of this._wait.values()) if (w.obj.action === action && w.obj.room === room && !w.answer) return w;
  }

  _room(m, p) {
    let r = this.rooms.get(m.room);
    const known = !!r?.seen;
    if (!r) this.rooms.set(m.room, r = { room: m.room, password: p?.obj.password, seq: 0 });
    Object.assign(r, { mode: 'join', seen: true });
    // A lower seq or another epoch: the room was made anew.
    const reset = known && (m.seq < r.seq || !!(m.epoch && r.epoch && m.epoch !== r.epoch));
    if (reset) r.seq = 0;
    if (m.epoch) r.epoch = m.epoch;
    const answer = { ...m, gap: !!m.gap || reset, reset, rejoin: known };
    if (p) p.answer = answer;
    this._emit('room', answer);
    if (m.members_more) this._more('members', m.room, m.members.length);
    this._replay(m);
  }
  _more(action, room, offset) { this._call({ action, room, offset }).catch(() => {}); }

  // History may come in pages (`more`).
  _replay({ room, history, more }) {
    for (const x of history || []) this._event({ room, ...x, event: 'message' });
    const r = this.rooms.get(room);
    if (more && r) this._call({ action: 'history', room, since: r.seq, epoch: r.epoch }).catch(() => {});
  }
}

// A random key per browser; the server binds an online name to it. (randomUUID
// would not work on plain http.)
function browserKey() {
  try {
    const k = localStorage.getItem('loopcast.key')
      || [...crypto.getRandomValues(new Uint8Array(16))].map(b => (b | 256).toString(16).slice(1)).join('');
    localStorage.setItem('loopcast.key', k);
    return k;
  } catch { return null; }
}
