// Types for loopcast.js, the client served by a loopcast server at /loopcast.js.
// import { connect } from "http://HOST/loopcast.js"  (or a copy of it)

/** Options of {@link connect}. */
export interface Options {
  /** Display name / user id (when the server has no `--auth-secret`). */
  user?: string;
  /** A JWT, when the server has `--auth-secret` (its `sub` is the user). */
  token?: string;
  /** The browser key that holds `user` while online; default: a random key kept
   *  in `localStorage` ("loopcast.key"). `null`/`false`/`""`: send none. */
  key?: string | null | false;
  /** Rooms to join on connect (and rejoin on every reconnect). */
  rooms?: Array<string | { room: string; password?: string }>;
  /** Milliseconds to wait for a call's `ack` before rejecting with `timeout` (10000). */
  timeout?: number;
  /** Calls that may wait for a connection before `queue_full` (100). */
  queue?: number;
  /** Reconnect backoff: the first delay and the cap, in ms (500, 15000). */
  minDelay?: number;
  maxDelay?: number;
}

/** Connection state (`offline`: after `disconnect()`). `closed` (by `close()` or after close code 1008) and
 *  `refused` (the server refused the upgrade: bad name, name in use, auth,
 *  origin) are final: no reconnect. */
export type State = "connecting" | "open" | "reconnecting" | "offline" | "closed" | "refused";

export interface StateEvent {
  state: State;
  /** `open`: this connection's id and user. */
  id?: string;
  user?: string;
  /** `reconnecting`/`closed`: the close code and reason. */
  code?: number;
  reason?: string;
  /** `reconnecting`: ms until the next attempt. */
  delay?: number;
  /** `refused`: the HTTP status of the refusal; `reason` is the server's text. */
  status?: number;
}

/** The limits a server announces in `welcome`. */
export interface Limits {
  /** Largest frame in bytes; bigger calls reject with `too_big` before sending. */
  max_message: number;
  /** Actions per second (0: unlimited) and burst; calls are paced to stay under them. */
  rate: number;
  burst: number;
}

export interface Member {
  user: string;
  id: string;
}

/** A `message` event: a room message (`room`, `seq`), a note (`to`), or a broadcast. */
export interface MessageEvent<T = unknown> {
  event: "message";
  from: string;
  room?: string;
  seq?: number;
  to?: string;
  ts: number;
  message: T;
  epoch?: string;
}

/** The answer to `join` (and to every rejoin, as a `room` event). */
export interface RoomEvent {
  event: "room";
  room: string;
  members: Member[];
  /** The room's latest seq. */
  seq: number;
  /** Messages were missed that the server no longer keeps, or the room was made anew. */
  gap: boolean;
  /** The room was made anew (its seq started over, or another epoch): earlier messages are gone. */
  reset: boolean;
  /** This answers an automatic rejoin after a reconnect. */
  rejoin: boolean;
  /** The messages it carried are delivered as `message` events right after this one
   *  (further pages, when `more`, are fetched and delivered the same way). */
  history: MessageEvent[];
  more?: boolean;
  /** More members than fit: they follow as `members` events with an `offset`. */
  members_more?: boolean;
  /** Names this run of the room's history; sent back on rejoin. */
  epoch?: string;
}

export interface PresenceEvent {
  event: "joined" | "left";
  room: string;
  user: string;
  id: string;
}

export interface TypingEvent {
  event: "typing";
  room: string;
  user: string;
  id: string;
  value: boolean;
}

export interface Ack {
  event: "ack";
  ref: number;
}

/** Long lists come in pages: `offset` is where this one starts, `more` says
 *  another follows (the client fetches it and emits it as its own event). */
export interface MembersEvent {
  event: "members";
  room: string;
  members: Member[];
  offset?: number;
  total?: number;
  more?: boolean;
}

export interface RoomsEvent {
  event: "rooms";
  rooms: Array<{ room: string; members: number; subscribers: number }>;
  offset?: number;
  total?: number;
  more?: boolean;
}

/** Why a call failed: the server's `error` (code + message), or one of the
 *  client's own codes: `timeout`, `disconnected` (the connection dropped before
 *  the answer; the call may or may not have taken effect), `queue_full`,
 *  `too_big`, `closed`, `refused`, `policy`. */
export declare class LoopcastError extends Error {
  code: string;
  /** The room of a failed automatic rejoin. */
  room?: string;
  /** HTTP status of a refusal. */
  status?: number;
  /** Byte limit of a `too_big` call. */
  max?: number;
}

/** A room was deleted (by its creator or `/api/delete`): its members and
 *  subscribers are out of it, and the client no longer rejoins it. */
export interface DeletedEvent {
  event: "deleted";
  room: string;
}

export interface Events {
  message: MessageEvent;
  deleted: DeletedEvent;
  room: RoomEvent;
  joined: PresenceEvent;
  left: PresenceEvent;
  typing: TypingEvent;
  members: MembersEvent;
  rooms: RoomsEvent;
  state: StateEvent;
  /** Errors not tied to a call: refusals, a failed rejoin, unsolicited `error` events. */
  error: LoopcastError;
}

export declare class Loopcast {
  constructor(url?: string, options?: Options);
  /** The WebSocket URL, with `user`, `token` and `key` in its query. */
  readonly url: string;
  readonly state: State;
  /** From `welcome`: the user name the server gave, this connection's id, the
   *  limits (`id` and `limits` are undefined before the first welcome). */
  readonly user: string | null;
  readonly id?: string;
  readonly limits?: Limits | null;
  /** Rooms joined or subscribed, with the last seq seen in each. */
  readonly rooms: Map<string, { room: string; seq: number; mode: "join" | "subscribe"; epoch?: string }>;
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: (data: Events[K]) => void): () => void;
  /** Joins (and rejoins on reconnect) a room; resolves with its `room` answer. */
  join(room: string, options?: { password?: string }): Promise<RoomEvent>;
  leave(room: string): Promise<Ack>;
  /** Silent membership; `fn` gets the topic's messages. Resubscribed on reconnect
   *  (without replay: the protocol resumes joined rooms only). */
  subscribe(topic: string, fn?: (m: MessageEvent) => void): Promise<Ack>;
  unsubscribe(topic: string): Promise<Ack>;
  publish(room: string, message: unknown): Promise<Ack>;
  notify(user: string, message: unknown): Promise<Ack>;
  broadcast(message: unknown): Promise<Ack>;
  /** Resolves with the first page; later pages arrive as `members` events. */
  members(room: string): Promise<MembersEvent>;
  /** Every room with its counts (the `rooms` action); later pages arrive as `rooms` events. */
  list(): Promise<RoomsEvent>;
  create(room: string, options?: { max_members?: number; password?: string; history?: number }): Promise<Ack>;
  /** Deletes a room with its history; only its creator may (`forbidden`), `no_such_room` if none. */
  delete(room: string): Promise<Ack>;
  /** Typing on/off; throttled (`true` at most every 2.5 s, `false` only after a sent `true`), sent only while open, never queued. */
  typing(room: string, on: boolean): void;
  /** Drops the connection and stays `offline` (rooms and seqs kept, calls
   *  queue) until `reconnect()`. */
  disconnect(): void;
  /** Drops the connection (if any) and connects again at once. */
  reconnect(): void;
  /** Closes for good; waiting calls reject with `closed`. */
  close(): void;
}

/** Connects (and keeps reconnecting) to a loopcast server's `/ws`. `url` may be
 *  `ws(s)://`, `http(s)://` or, in a browser, relative to the page (default `/ws`). */
export declare function connect(url?: string, options?: Options): Loopcast;
