//! The Lua scripts the engine loads at connect, and the Redis key scheme.
//!
//! Per room `R`: `lc:m:R` (hash: `seq`, `epoch`, `ev`, `cap`, `password`, `max`,
//! `created`, `owner`; `password` is the salted hash of `secret::PasswordHash`
//! in its storage form, never the password: nodes compare in constant time),
//! `lc:h:R` (list: the newest encoded message events), `lc:p:R` (hash:
//! connection id -> `j` or `s` followed by `{"user":..,"id":..}`), channel `lc:r:R`.
//! Per node `N`: `lc:n:N` (set of `room id` entries, for reaping a dead node),
//! with `N` in the sorted set `lc:nodes` scored by its heartbeat deadline.
//!
//! Every script that publishes on a room channel first counts the room's `ev`
//! and prefixes the payload with it: `m<ev>:<seq> <origin> <event>` for messages
//! (members and subscribers get them), `p<ev> <origin> <event>` for presence
//! and typing (joined members but the origin connection). A joiner learns the
//! `ev` its join ran at and so knows exactly which channel payloads came after
//! it, however the two links interleave (see `gate`).

/// Sequenced publish: seq allocation, history append and PUBLISH, atomically.
/// KEYS: meta, history, members, channel. ARGV: event prefix (up to the seq),
/// suffix, default cap, fresh epoch, `1` if the sender is no member here
/// (password rooms refuse it), origin id. Returns `{seq, ev}`, `{0, 0}` if the
/// room does not exist (nobody in it: the message is dropped, as on one node).
pub const PUBLISH: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('HEXISTS', KEYS[1], 'created') == 0 then
  return {0, 0}
end
if ARGV[5] == '1' and redis.call('HEXISTS', KEYS[1], 'password') == 1 then
  return redis.error_reply('forbidden')
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[4])
local cap = tonumber(redis.call('HGET', KEYS[1], 'cap') or ARGV[3])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local ev = redis.call('HINCRBY', KEYS[1], 'ev', 1)
local event = ARGV[1] .. seq .. ARGV[2]
if cap > 0 then
  redis.call('RPUSH', KEYS[2], event)
  redis.call('LTRIM', KEYS[2], -cap, -1)
else
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', KEYS[4], 'm' .. ev .. ':' .. seq .. ' ' .. ARGV[6] .. ' ' .. event)
return {seq, ev}
"#;

/// Join or subscribe: password and `max_members` checks, membership, the
/// `joined` event, and the state the joiner needs, atomically.
/// KEYS: meta, history, members, channel, node set. ARGV: connection id,
/// entry (`j`/`s` + member JSON), the salted hash of the given password (a
/// new room keeps it), `1` if a password was given, fresh epoch, room name,
/// mode (`n`: normal, `r`: re-announce after a reconnect, no checks and no
/// event), the room's stored hash the node has checked the password against
/// (`''` on the first try).
/// Returns `{'ok', seq, epoch, ev, cap, history, members}`, `{'check', hash}`
/// (a password room: the node checks the password against `hash` in
/// constant time and, if it matches, runs the join again with that hash),
/// `{'forbidden'}` or `{'full', max}`.
pub const JOIN: &str = r#"
local pw = redis.call('HGET', KEYS[1], 'password')
local old = redis.call('HGET', KEYS[3], ARGV[1])
local exists = redis.call('EXISTS', KEYS[3]) == 1 or redis.call('HEXISTS', KEYS[1], 'created') == 1
if ARGV[7] == 'n' and not old then
  if pw and exists and ARGV[4] ~= '1' then return {'forbidden'} end
  if pw and exists and pw ~= ARGV[8] then return {'check', pw} end
  local max = redis.call('HGET', KEYS[1], 'max')
  if max and exists and redis.call('HLEN', KEYS[3]) >= tonumber(max) then return {'full', max} end
  if not exists then
    redis.call('HDEL', KEYS[1], 'password', 'max')
    if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'password', ARGV[3]) end
  end
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[5])
redis.call('HDEL', KEYS[1], 'created')
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[6] .. ' ' .. ARGV[1])
redis.call('SADD', 'lc:rooms', ARGV[6])
local ev
if ARGV[7] == 'n' and string.sub(ARGV[2], 1, 1) == 'j' and (not old or string.sub(old, 1, 1) ~= 'j') then
  ev = redis.call('HINCRBY', KEYS[1], 'ev', 1)
  local event = '{"event":"joined","room":"' .. ARGV[6] .. '",' .. string.sub(ARGV[2], 3)
  redis.call('PUBLISH', KEYS[4], 'p' .. ev .. ' ' .. ARGV[1] .. ' ' .. event)
else
  ev = tonumber(redis.call('HGET', KEYS[1], 'ev') or '0')
end
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
local cap = redis.call('HGET', KEYS[1], 'cap') or ''
return {'ok', seq, redis.call('HGET', KEYS[1], 'epoch'), ev, cap,
  redis.call('LRANGE', KEYS[2], 0, -1), redis.call('HVALS', KEYS[3])}
"#;

/// Leave or unsubscribe (also for a departed connection): the `left` event
/// for a joined member; the room's properties go with its last member.
/// KEYS: meta, members, channel, node set. ARGV: connection id, room name.
pub const LEAVE: &str = r#"
redis.call('SREM', KEYS[4], ARGV[2] .. ' ' .. ARGV[1])
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if string.sub(old, 1, 1) == 'j' then
  local ev = redis.call('HINCRBY', KEYS[1], 'ev', 1)
  local event = '{"event":"left","room":"' .. ARGV[2] .. '",' .. string.sub(old, 3)
  redis.call('PUBLISH', KEYS[3], 'p' .. ev .. ' ' .. ARGV[1] .. ' ' .. event)
end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('HDEL', KEYS[1], 'password', 'max', 'cap') end
return 1
"#;

/// Presence-only event (typing) on a room channel. KEYS: meta, channel.
/// ARGV: origin id, event.
pub const SIGNAL: &str = r#"
local ev = redis.call('HINCRBY', KEYS[1], 'ev', 1)
redis.call('PUBLISH', KEYS[2], 'p' .. ev .. ' ' .. ARGV[1] .. ' ' .. ARGV[2])
return ev
"#;

/// Heartbeat and reaping: renews this node's deadline, then removes the
/// members of every node whose deadline passed (a node killed without a
/// goodbye), with `left` events, so presence heals within the TTL.
/// KEYS: `lc:nodes`. ARGV: node, TTL in ms.
pub const HEARTBEAT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, node in ipairs(dead) do
  local set = 'lc:n:' .. node
  for _, entry in ipairs(redis.call('SMEMBERS', set)) do
    local sp = string.find(entry, ' ', 1, true)
    local room = string.sub(entry, 1, sp - 1)
    local id = string.sub(entry, sp + 1)
    local members = 'lc:p:' .. room
    local old = redis.call('HGET', members, id)
    if old then
      redis.call('HDEL', members, id)
      if string.sub(old, 1, 1) == 'j' then
        local ev = redis.call('HINCRBY', 'lc:m:' .. room, 'ev', 1)
        local event = '{"event":"left","room":"' .. room .. '",' .. string.sub(old, 3)
        redis.call('PUBLISH', 'lc:r:' .. room, 'p' .. ev .. ' ' .. id .. ' ' .. event)
      end
      if redis.call('EXISTS', members) == 0 then
        redis.call('HDEL', 'lc:m:' .. room, 'password', 'max', 'cap')
      end
    end
  end
  redis.call('DEL', set)
  redis.call('ZREM', KEYS[1], node)
end
return #dead
"#;

/// `create`: a room with properties, refused if it exists. KEYS: meta,
/// members. ARGV: salted password hash or '', max or '', cap or '', fresh
/// epoch, owner (the creating user). Returns 1, or 0 if the room exists.
pub const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('HEXISTS', KEYS[1], 'created') == 1 then
  return 0
end
redis.call('HDEL', KEYS[1], 'password', 'max', 'cap')
redis.call('HSET', KEYS[1], 'created', '1')
redis.call('SADD', 'lc:rooms', string.sub(KEYS[1], 6))
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'password', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'max', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'cap', ARGV[3]) end
redis.call('HSET', KEYS[1], 'owner', ARGV[5])
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[4])
return 1
"#;

/// `delete`: the room with its history and members, for its owner (or the
/// backend: owner `''`). Only `ev` stays, so the channel's counter never
/// goes back; the next use of the name starts a new epoch. Every node with
/// members gets `d<ev> - <deleted event>` and drops the room.
/// KEYS: meta, history, members, channel, `lc:rooms`. ARGV: owner or '',
/// room name, the `deleted` event. Returns `{'ok', ev}`, `{'none'}` or `{'not_owner'}`.
pub const DELETE: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('HEXISTS', KEYS[1], 'epoch') == 0 then
  return {'none'}
end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return {'not_owner'}
end
local ev = redis.call('HINCRBY', KEYS[1], 'ev', 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'ev', ev)
redis.call('SREM', KEYS[5], ARGV[2])
redis.call('PUBLISH', KEYS[4], 'd' .. ev .. ' - ' .. ARGV[3])
return {'ok', ev}
"#;

/// `rooms`: every room of the cluster with its member and subscriber
/// counts, as a flat `{name, members, subscribers, ...}`; rooms found empty
/// are dropped from the set on the way. KEYS: `lc:rooms`.
pub const ROOMS: &str = r#"
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local j, s = 0, 0
  for _, v in ipairs(redis.call('HVALS', 'lc:p:' .. room)) do
    if string.sub(v, 1, 1) == 'j' then j = j + 1 else s = s + 1 end
  end
  if j + s == 0 and redis.call('HEXISTS', 'lc:m:' .. room, 'created') == 0 then
    redis.call('SREM', KEYS[1], room)
  else
    table.insert(out, room)
    table.insert(out, j)
    table.insert(out, s)
  end
end
return out
"#;

/// `history`: a room's state, shaped like JOIN's answer. KEYS: meta, history.
pub const FETCH: &str = r#"
local m = redis.call('HMGET', KEYS[1], 'seq', 'epoch', 'cap', 'ev')
return {'ok', m[1] or '0', m[2], tonumber(m[4] or '0'), m[3] or '', redis.call('LRANGE', KEYS[2], 0, -1)}
"#;

/// `members`: the member hash's values; a password room refuses askers who
/// are not in it. KEYS: meta, members. ARGV: `1` if the asker is not in the room.
pub const MEMBERS: &str = r#"
if ARGV[1] == '1' and redis.call('HEXISTS', KEYS[1], 'password') == 1 then
  return redis.error_reply('forbidden')
end
return redis.call('HVALS', KEYS[2])
"#;

/// Indexes into [`ALL`].
pub const I_PUBLISH: usize = 0;
/// See [`JOIN`].
pub const I_JOIN: usize = 1;
/// See [`LEAVE`].
pub const I_LEAVE: usize = 2;
/// See [`SIGNAL`].
pub const I_SIGNAL: usize = 3;
/// See [`HEARTBEAT`].
pub const I_HEARTBEAT: usize = 4;
/// See [`CREATE`].
pub const I_CREATE: usize = 5;
/// See [`ROOMS`].
pub const I_ROOMS: usize = 6;
/// See [`FETCH`].
pub const I_FETCH: usize = 7;
/// See [`MEMBERS`].
pub const I_MEMBERS: usize = 8;
/// See [`DELETE`].
pub const I_DELETE: usize = 9;

/// Every script, loaded with SCRIPT LOAD at each connect (Redis forgets them on restart).
pub const ALL: [&str; 10] = [
    PUBLISH, JOIN, LEAVE, SIGNAL, HEARTBEAT, CREATE, ROOMS, FETCH, MEMBERS, DELETE,
];

/// A room's Redis key or channel: `lc:<kind>:<room>`.
pub fn key(kind: char, room: &str) -> Vec<u8> {
    format!("lc:{kind}:{room}").into_bytes()
}

/// The channel of a user's notifications.
pub fn user_channel(user: &str) -> Vec<u8> {
    let mut c = b"lc:u:".to_vec();
    c.extend_from_slice(user.as_bytes());
    c
}

/// The channel `broadcast` (and `/api/publish` with `all`) goes out on.
pub const ALL_CHANNEL: &[u8] = b"lc:all";
/// The channel of the raw `/broadcast` hub.
pub const RAW_CHANNEL: &[u8] = b"lc:raw";
/// The set of room names (see [`ROOMS`]).
pub const ROOMS_SET: &[u8] = b"lc:rooms";
/// The sorted set of live nodes.
pub const NODES: &[u8] = b"lc:nodes";

/// A node's set of memberships.
pub fn node_key(node: &str) -> Vec<u8> {
    format!("lc:n:{node}").into_bytes()
}
