// loopcast client. Types: /loopcast.d.ts; guide: README.

export class LoopcastError extends Error { name = 'LoopcastError'; }
const E = (code, message = code, extra) => Object.assign(new LoopcastError(message), extra, { code });
const quiet = p => p.catch(() => {});

export const connect = (...a) => new Loopcast(...a);

// One action per call: method → its fields.
const ONE = { join: 'room ...', create: 'room ...', publish: 'room message', notify: 'user message', broadcast: 'message',
  members: 'room', delete: 'room', leave: 'room', subscribe: 'topic fn', unsubscribe: 'topic' };

export function Loopcast(url = '/ws', o = {}) {
  o = { key: browserKey(), timeout: 1e4, queue: 100, minDelay: 500, maxDelay: 15e3, ...o };
  const lc = this, on = Object.create(null), wait = new Map(), rooms = new Map(), u = new URL(url, globalThis.location);
  let ws, bucket, queue = [], refs = 0, tries = 0, timer, pace;
  u.protocol = u.protocol.replace(/^http/, 'ws');
  for (const k of ['user', 'token', 'key']) if (o[k]) u.searchParams.set(k, o[k]);

  const emit = (ev, data) => on[ev]?.forEach(fn => { try { fn(data); } catch (e) { console.error(e); } });
  const set = (state, extra) => emit('state', { ...extra, state: lc.state = state });
  const final = () => /closed|refused/.test(lc.state);
  const keep = (room, password, mode = 'join', fn) => rooms.set(room, { room, password, seq: 0, mode, fn }).get(room);
  const settle = (p, value, how = 'resolve') => p && (wait.delete(p.ref), clearTimeout(p.timer), how && p[how](value));

  Object.assign(lc, {
    url: u.href, state: 'connecting', user: o.user || null, rooms,
    list: () => call('rooms'),
    on: (ev, fn, fns = on[ev] ||= new Set()) => (fns.add(fn), () => fns.delete(fn)),
    // Inside the typing allowance: `true` at most every 2.5 s (later ones wait).
    typing(room, on, r = rooms.get(room) || {}, wait = r.typed + 2500 - Date.now()) {
      clearTimeout(r.later);
      if (on ? wait > 0 : !r.on) return on && (r.later = setTimeout(() => lc.typing(room, 1), wait));
      r.on = on;
      if (on) r.typed = Date.now();
      if (bucket) ws.send(JSON.stringify({ action: 'typing', room, value: !!on }));
    },
    // Offline (calls queue) until reconnect().
    disconnect: again => final() || (drop(E('disconnected')), set(again ? 'connecting' : 'offline'), again && open()),
    reconnect: () => lc.disconnect(true),
    close: () => (drop(E('closed')), stop('closed')),
  });
  for (const [name, fields] of Object.entries(ONE)) lc[name] = (...v) => {
    if (/^(leave|unsub)/.test(name)) rooms.delete(v[0]); // not to be rejoined
    return call(name, Object.assign({}, ...fields.split(' ').map((f, i) => f === '...' ? v[i] : { [f]: v[i] })));
  };

  const open = () => {
    const s = ws = new WebSocket(lc.url);
    s.onmessage = e => event(JSON.parse(e.data));
    s.onclose = e => closed(e, bucket);
  };
  const drop = err => {
    clearTimeout(timer);
    if (ws) ws.onmessage = ws.onclose = null, ws.close();
    ws = bucket = null;
    wait.forEach(p => settle(p, err, 'reject'));
  };
  const stop = (state, extra) => (queue.splice(0).forEach(p => p.reject(E(state))), set(state, extra));
  // No retry cures a refusal or 1008 (policy).
  const end = (state, reason, extra) => (emit('error', E(state === 'closed' ? 'policy' : state, reason, extra)), stop(state, { ...extra, reason }));

  const closed = async ({ code, reason = '' }, welcomed) => {
    drop(E('disconnected'));
    if (code === 1008) return end('closed', reason || 'policy', { code });
    // A refused upgrade is a bare 1006: a GET says why.
    const r = welcomed || await fetch(lc.url.replace(/^ws/, 'http')).catch(() => 0);
    if (/^40[01349]$/.test(r.status)) return end('refused', await r.text(), { status: r.status });
    if (ws || final() || lc.state === 'offline') return; // changed meanwhile
    // After 1013 (slow or busy): at least 5 s.
    const cap = Math.min(o.maxDelay, o.minDelay * 2 ** tries++), delay = Math.max(cap, code === 1013 ? 5e3 : 0) * (1 + Math.random()) / 2;
    set('reconnecting', { code, reason, delay });
    timer = setTimeout(open, delay);
  };

  const call = (action, fields, again) => new Promise((resolve, reject) => {
    if (final() || !again && queue.length >= o.queue) return reject(E(final() ? lc.state : 'queue_full'));
    queue[again ? 'unshift' : 'push']({ obj: { action, ...fields }, resolve, reject, again });
    flush();
  });
  // Paced (GCRA) under the server's rate.
  const flush = () => {
    clearTimeout(pace);
    for (const b = bucket; b && queue.length; send(queue.shift())) {
      const now = Date.now(), t = Math.max(b.t, now - b.slack);
      if (t > now) return pace = setTimeout(flush, t - now);
      b.t = t + b.gap;
    }
  };
  const send = p => {
    const text = JSON.stringify({ ...p.obj, ref: p.ref = ++refs }), max = lc.limits?.max_message; // JSON drops `fn`
    if (new TextEncoder().encode(text).length > max) return p.reject(E('too_big', `over ${max} bytes`, { max }));
    p.timer = setTimeout(() => settle(p, E('timeout'), 'reject'), o.timeout);
    wait.set(p.ref, p);
    ws.send(text);
  };

  const event = m => {
    const ev = m.event, r = rooms.get(m.room), p = wait.get(m.ref), c = p?.obj;
    // Answers (no ref) settle the oldest such call.
    const w = [...wait.values()].find(w => w.obj.action === (ev === 'room' ? 'join' : ev) && w.obj.room === m.room);
    switch (ev) {
      case 'welcome': return welcome(m);
      case 'room': return room(m, w);
      case 'history': return replay(m);
      case 'message':
        if (m.seq <= r?.seq) return; // seen before a reconnect
        if (r && m.seq) r.seq = m.seq, r.epoch = m.epoch || r.epoch;
        emit(ev, m);
        return r?.fn?.(m);
      case 'ack':
        if (c?.action === 'subscribe') keep(c.topic, c.password, 'subscribe', c.fn);
        return settle(p, m);
      case 'error': {
        const e = E(m.code, m.message, { room: p?.again });
        settle(p, 0, 0);
        if (p && !p.again) return p.reject(e);
        // No caller, or a failed rejoin (`again`: its room).
        rooms.delete(p?.again);
        return emit(ev, e);
      }
      case 'deleted': rooms.delete(m.room); break;
      case 'members': case 'rooms':
        settle(w, m);
        if (m.more) more(ev, m.room, (m.offset || 0) + m[ev].length);
    }
    emit(ev, m);
  };

  const welcome = m => {
    const { id, user, limits = null } = m, { rate, burst = 1 } = limits || {}, gap = rate ? 1e3 / (0.9 * rate) : 0; // 0.9: clock drift
    Object.assign(lc, { id, user, limits });
    tries = 0;
    // Rejoins (queued: no bucket yet) ask what was missed.
    queue = queue.filter(q => !q.again);
    for (const { room, password, mode, fn, seq, epoch } of [...rooms.values()].reverse())
      quiet(call(mode, mode === 'join' ? { room, password, since: seq, epoch } : { topic: room, password, fn }, room));
    bucket = { gap, slack: Math.max(0, burst - 2) * gap, t: 0 };
    set('open', { id, user });
    flush();
  };

  const room = (m, p) => {
    const r = rooms.get(m.room) || keep(m.room, p?.obj.password), known = !!r.seen;
    // A lower seq or another epoch: a new room.
    const reset = !!(known && (m.seq < r.seq || m.epoch && r.epoch && m.epoch !== r.epoch));
    Object.assign(r, { mode: 'join', seen: true, seq: reset ? 0 : r.seq, epoch: m.epoch || r.epoch });
    const answer = { ...m, gap: m.gap || reset, reset, rejoin: known };
    settle(p, answer);
    emit('room', answer);
    if (m.members_more) more('members', m.room, m.members.length);
    replay(m);
  };
  const more = (action, room, offset) => quiet(call(action, { room, offset }));
  const replay = ({ room, history = [], more: next }, r = rooms.get(room)) => {
    for (const x of history) event({ room, ...x, event: 'message' });
    if (next && r) quiet(call('history', { room, since: r.seq, epoch: r.epoch }));
  };

  for (const r of o.rooms || []) keep(r.room || r, r.password);
  open();
}

// A random key per browser: the server binds a name to it.
function browserKey() {
  try { return localStorage['loopcast.key'] ||= crypto.getRandomValues(new Uint32Array(4)).join('-'); } catch {}
}
