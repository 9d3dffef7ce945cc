import { CloseCode } from "./close_codes.ts";
import { EnvelopeError, QueueFullError, SessionClosedError } from "./errors.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope, utf8Length } from "./protocol.ts";
import type { RoomIndex } from "./rooms.ts";
import { RingBuffer } from "./ring_buffer.ts";
import { type Frame, type OverflowPolicy, SendQueue } from "./send_queue.ts";
import type { Socket } from "./socket.ts";
import type { EventMap, Message } from "./topics.ts";

/**
 * What happened to one outgoing message.
 *
 * - `"sent"`: handed to the runtime's socket.
 * - `"queued"`: held in the session's send queue until the socket drains.
 * - `"dropped"`: discarded by the overflow policy; counted and reported to `onDrop`.
 * - `"closed"`: the session is closing or closed; nothing was sent.
 */
export type SendResult = "sent" | "queued" | "dropped" | "closed";

/**
 * Why a session closed.
 *
 * | kind | who | code |
 * | --- | --- | --- |
 * | `"client"` | the client sent a close frame | the client's (1005 if none) |
 * | `"server"` | `session.close()` | the one given (default 1000) |
 * | `"overflow"` | the send queue overflowed under the `close` policy | 1013 |
 * | `"too-large"` | an inbound message over `maxMessageBytes` | 1009 |
 * | `"invalid"` | a malformed envelope, with `invalidMessage: "close"` | 1007 |
 * | `"policy"` | the client kept breaking the rate limit | 1008 |
 * | `"timeout"` | the runtime's idle timeout (no pong) | as the runtime reports (Deno 1001, Bun 1006) |
 * | `"shutdown"` | `server.shutdown()` | 1001 by default |
 * | `"error"` | the connection failed or dropped without a close frame | 1006 or the runtime's |
 */
export interface CloseCause {
  /** What closed the session. */
  readonly kind:
    | "client"
    | "server"
    | "overflow"
    | "too-large"
    | "invalid"
    | "policy"
    | "timeout"
    | "shutdown"
    | "error";
  /** The close code sent or received. */
  readonly code: number;
  /** The close reason sent or received. */
  readonly reason: string;
  /** The error behind it: a `QueueFullError` for `overflow`, the runtime's error for `error`. */
  readonly error?: unknown;
  /** `true` if the closing handshake did not finish in time and the session was released anyway. */
  readonly forced?: boolean;
}

/** A report of messages dropped from a session's outgoing traffic. */
export interface DropInfo {
  /**
   * Why: `"overflow"` by the overflow policy; `"closed"` queued when the
   * session closed; `"runtime"` refused by the runtime's socket.
   */
  readonly reason: "overflow" | "closed" | "runtime";
  /** How many messages. */
  readonly messages: number;
  /** Their size in bytes. */
  readonly bytes: number;
}

/** Counters of one session's traffic. */
export interface SessionStats {
  /** Messages handed to the socket. */
  readonly messagesSent: number;
  /** Bytes handed to the socket. */
  readonly bytesSent: number;
  /** Messages that ever waited in the send queue. */
  readonly messagesQueued: number;
  /** Messages waiting in the send queue now. */
  readonly queueLength: number;
  /** Bytes waiting in the send queue now. */
  readonly queueBytes: number;
  /** The most messages that ever waited at once. */
  readonly queuePeakMessages: number;
  /** The most bytes that ever waited at once. */
  readonly queuePeakBytes: number;
  /** Messages dropped, for any reason in {@linkcode DropInfo}. */
  readonly messagesDropped: number;
  /** Bytes dropped. */
  readonly bytesDropped: number;
  /** Messages received (text and binary, valid or not). */
  readonly messagesReceived: number;
  /** Received text frames that were not valid envelopes. */
  readonly invalidMessages: number;
  /** Received messages rejected by the rate limit or a full handler backlog. */
  readonly messagesRejected: number;
  /** Received messages waiting for a handler slot now. */
  readonly pendingMessages: number;
}

/**
 * Server-side state and hooks a session reports to. Internal: built by the
 * server, shared by its sessions.
 */
export interface SessionHost<Ctx, In extends object, Out extends object> {
  readonly rooms: RoomIndex<Session<Ctx, In, Out>>;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly overflow: OverflowPolicy;
  readonly highWaterMark: number;
  readonly maxMessageBytes: number;
  readonly invalidMessage: "reply" | "close" | "ignore";
  readonly closeTimeout: number;
  readonly validate: ((envelope: Envelope) => boolean) | undefined;
  /** Tokens per second, i.e. thousandths of a token per millisecond; 0 disables the limit. */
  readonly rate: number;
  readonly burst: number;
  readonly rateLimitCloseAfter: number;
  readonly maxConcurrentHandlers: number;
  readonly maxPendingMessages: number;
  readonly maxPendingBytes: number;
  readonly maxRooms: number;
  now(): number;
  onRejectedMessage(session: Session<Ctx, In, Out>, reason: "rate-limited" | "busy"): void;
  readonly counters: ServerCounters;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  schedule(session: Session<Ctx, In, Out>): void;
  defer(session: Session<Ctx, In, Out>): void;
  unschedule(session: Session<Ctx, In, Out>): void;
  onMessage(session: Session<Ctx, In, Out>, message: Message<In>): unknown;
  onBinary(session: Session<Ctx, In, Out>, data: Uint8Array<ArrayBuffer>): unknown;
  onDrop(session: Session<Ctx, In, Out>, drop: DropInfo): void;
  onInvalidMessage(session: Session<Ctx, In, Out>, error: EnvelopeError): void;
  released(session: Session<Ctx, In, Out>, lingering: boolean): void;
  /** A released session's connection is closed at last (see `lingering`). */
  gone(session: Session<Ctx, In, Out>): void;
  report(error: unknown, session: Session<Ctx, In, Out>): void;
}

/** Server-wide counters, mutated by sessions; read through `server.stats`. */
export interface ServerCounters {
  opened: number;
  closed: number;
  rejected: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  bytesDropped: number;
  invalidMessages: number;
  messagesRejected: number;
  overflowCloses: number;
  tooLargeCloses: number;
}

/**
 * The rooms of one session. Every operation is O(1) and keeps the server's
 * room index in step.
 *
 * @example Usage
 * ```ts ignore
 * session.rooms.join("lobby"); // true: joined
 * session.rooms.join("lobby"); // false: already there
 * session.rooms.has("lobby"); // true
 * [...session.rooms.current]; // ["lobby"]
 * session.rooms.leave("lobby"); // true
 * ```
 */
export interface SessionRooms {
  /**
   * Joins a room; idempotent.
   *
   * @param room The room's name.
   * @returns `true` if joined now, `false` if already a member.
   * @throws {TypeError} If `room` is not a string.
   * @throws {RangeError} If the name is not 1 to 255 UTF-8 bytes, or the
   *   session is already in `maxRoomsPerSession` rooms.
   * @throws {SessionClosedError} If the session is closing or closed.
   */
  join(room: string): boolean;
  /**
   * Leaves a room; the room is deleted once empty.
   *
   * @param room The room's name.
   * @returns `true` if left now, `false` if not a member.
   */
  leave(room: string): boolean;
  /**
   * Tells whether the session is in a room.
   *
   * @param room The room's name.
   * @returns `true` if a member.
   */
  has(room: string): boolean;
  /** The rooms the session is in now (a live view). */
  readonly current: ReadonlySet<string>;
  /**
   * The rooms the session was in when it closed, for `onClose` (to tell
   * those rooms who left); empty while it is open.
   */
  readonly left: ReadonlySet<string>;
}

/** The longest room name, in UTF-8 bytes. */
export const MAX_ROOM_NAME_BYTES = 255;

// Assigned by Session's static block.
let _driver!: SessionDriver;
const _NO_ROOMS: ReadonlySet<string> = new Set<string>();

/** A session's state for drops, errors and its close: what a quiet session never touches. */
class _Rare {
  cause: CloseCause | undefined;
  runtimeError: unknown;
  closeTimer: unknown;
  closed: Promise<CloseCause> | undefined;
  resolveClosed: ((cause: CloseCause) => void) | undefined;
  /** Released before the runtime reported its connection closed. */
  lingering = false;
  reportingDrop = false;
  messagesQueued = 0;
  messagesDropped = 0;
  bytesDropped = 0;
  invalidMessages = 0;
  messagesRejected = 0;
}

/** A session's inbound state: its token bucket and its async handlers. */
class _Inbound {
  /** Thousandths of a token. */
  tokens: number;
  /** Whole milliseconds. */
  refilledAt: number;
  rejectedRun = 0;
  inflight = 0;
  backlog: RingBuffer<string | Uint8Array<ArrayBuffer>> | undefined;
  backlogBytes = 0;
  settle: (() => void) | undefined;

  constructor(tokens: number, now: number) {
    this.tokens = tokens;
    this.refilledAt = now;
  }
}

/** The `session.rooms` view; made per access, it holds nothing but the session. */
class _Rooms implements SessionRooms {
  readonly #session: AnySession;

  constructor(session: AnySession) {
    this.#session = session;
  }

  get current(): ReadonlySet<string> {
    return this.#session.closed ? _NO_ROOMS : _roomsOf(this.#session) ?? _NO_ROOMS;
  }

  get left(): ReadonlySet<string> {
    return this.#session.closed ? _roomsOf(this.#session) ?? _NO_ROOMS : _NO_ROOMS;
  }

  join(room: string): boolean {
    return _driver.join(this.#session, room);
  }

  leave(room: string): boolean {
    return _driver.leave(this.#session, room);
  }

  has(room: string): boolean {
    return !this.#session.closed && (_roomsOf(this.#session)?.has(room) ?? false);
  }
}

function _roomsOf(session: AnySession): Set<string> | undefined {
  return _driver.rooms(session);
}

// How a session writes: each frame at once; the tick's frames under one
// cork (Bun); the tick's text frames joined in one batch frame (negotiated).
const _DIRECT = 0;
const _CORK = 1;
const _JOIN = 2;
/** A coalesced write is cut at this many bytes. */
const _COALESCE_BYTES = 16 * 1024;
const _OPEN = 0;
const _CLOSING = 1;
const _CLOSED = 2;

/**
 * One WebSocket connection after a successful upgrade: its id, the context
 * the context factory returned, its rooms, a bounded send queue, and its
 * lifecycle. Sessions are created by the {@linkcode Server}; you meet them in
 * its hooks and in `server.sessions`.
 *
 * Sending never blocks and never throws on backpressure: while the send queue
 * is empty and the socket has fewer than `highWaterMark` bytes buffered, a
 * message goes straight to the socket; otherwise it waits in the queue,
 * which is bounded by messages and bytes and applies the overflow policy.
 *
 * @typeParam Ctx The type the context factory returns.
 * @typeParam In The event map of messages from the client.
 * @typeParam Out The event map of messages to the client.
 *
 * @example Usage
 * ```ts
 * import { Server } from "@switchboard/ws";
 *
 * const server = new Server({
 *   context: (request) => ({ name: new URL(request.url).searchParams.get("name") ?? "anon" }),
 *   onConnect(session) {
 *     session.rooms.join("lobby");
 *     session.send("welcome", { id: session.id, name: session.ctx.name });
 *   },
 *   async onClose(session, cause) {
 *     console.log(session.id, "closed:", cause.kind, cause.code);
 *   },
 * });
 * ```
 */
export class Session<
  Ctx = undefined,
  In extends object = EventMap,
  Out extends object = EventMap,
> {
  /** A crypto-random id, unique within the server. */
  readonly id: string;
  /** What the context factory returned for this connection. */
  readonly ctx: Ctx;

  readonly #host: SessionHost<Ctx, In, Out>;
  readonly #socket: Socket;
  readonly #drains: boolean;
  /** The server's admission record, given back when the connection ends. */
  readonly #admission: unknown;
  readonly #mode: number;
  #pending: (string | Uint8Array<ArrayBuffer>)[] | undefined;
  #pendingBytes = 0;
  /** `true` while a hook runs for a message this session received. */
  #receiving = false;
  /** Rate-limit and handler state, made on the first inbound message. */
  #in: _Inbound | undefined;
  /** What an idle, healthy session never needs, made on first use. */
  #rare: _Rare | undefined;
  #queue: SendQueue | undefined;
  /** The rooms it is in; once closed, the rooms it left. */
  #rooms: Set<string> | undefined;
  #state = _OPEN;

  #messagesSent = 0;
  #bytesSent = 0;
  #messagesReceived = 0;

  private constructor(
    host: SessionHost<Ctx, In, Out>,
    socket: Socket,
    id: string,
    ctx: Ctx,
    drains: boolean,
    batch: boolean,
    admission: unknown,
  ) {
    this.#host = host;
    this.#socket = socket;
    this.#drains = drains;
    this.#admission = admission;
    this.#mode = batch ? _JOIN : socket.cork !== undefined ? _CORK : _DIRECT;
    this.id = id;
    this.ctx = ctx;
  }

  #x(): _Rare {
    return this.#rare ??= new _Rare();
  }

  /** `"open"`, `"closing"` (close decided, handshake under way) or `"closed"`. */
  get state(): "open" | "closing" | "closed" {
    return this.#state === _OPEN ? "open" : this.#state === _CLOSING ? "closing" : "closed";
  }

  /** `true` once the session is closing or closed: nothing more is sent. */
  get closed(): boolean {
    return this.#state !== _OPEN;
  }

  /** Why the session closed, once it is closing or closed. */
  get closeCause(): CloseCause | undefined {
    return this.#rare?.cause;
  }

  /** The session's rooms: `join`, `leave`, `has`, `current`. */
  get rooms(): SessionRooms {
    return new _Rooms(this);
  }

  /** A snapshot of the session's counters. */
  get stats(): SessionStats {
    const queue = this.#queue;
    const rare = this.#rare;
    return {
      messagesSent: this.#messagesSent,
      bytesSent: this.#bytesSent,
      messagesQueued: rare?.messagesQueued ?? 0,
      queueLength: queue?.length ?? 0,
      queueBytes: queue?.bytes ?? 0,
      queuePeakMessages: queue?.peakMessages ?? 0,
      queuePeakBytes: queue?.peakBytes ?? 0,
      messagesDropped: rare?.messagesDropped ?? 0,
      bytesDropped: rare?.bytesDropped ?? 0,
      messagesReceived: this.#messagesReceived,
      invalidMessages: rare?.invalidMessages ?? 0,
      messagesRejected: rare?.messagesRejected ?? 0,
      pendingMessages: this.#in?.backlog?.length ?? 0,
    };
  }

  /**
   * Sends a message as a text frame holding the envelope `{"topic", "data"}`.
   * Never blocks, never throws on backpressure.
   *
   * @typeParam K The topic.
   * @param topic The topic.
   * @param data The data; anything `JSON.stringify` accepts.
   * @returns What happened to the message.
   * @throws {TypeError} If `data` cannot be serialized (a `BigInt`, a cycle).
   */
  send<K extends keyof Out & string>(topic: K, data: Out[K]): SendResult {
    if (this.#state !== _OPEN) return "closed";
    const text = encodeEnvelope(topic, data);
    return this.#offer(text, utf8Length(text), undefined);
  }

  /**
   * Sends bytes as a binary frame. Never blocks, never throws on backpressure.
   * The bytes are not copied: do not change them after the call.
   *
   * @param data The bytes.
   * @returns What happened to the message.
   */
  sendBinary(data: Uint8Array<ArrayBuffer>): SendResult {
    if (this.#state !== _OPEN) return "closed";
    return this.#offer(data, data.byteLength, undefined);
  }

  /**
   * Closes the session: it leaves every room at once, messages still in its
   * send queue are dropped (counted, reported to `onDrop`), and the closing
   * handshake starts. Calling it again returns the same promise.
   *
   * @param code A close code: 1000, 1001-1003, 1007-1014 or 3000-4999.
   * @param reason A reason of at most 123 UTF-8 bytes.
   * @returns A promise of the close cause, resolved once the session is closed
   *   (the handshake finished, or `closeTimeout` passed).
   * @throws {RangeError} If the code or reason is not allowed.
   */
  close(code: number = CloseCode.NORMAL, reason = ""): Promise<CloseCause> {
    if (!_isSendableCode(code)) {
      throw new RangeError(`Cannot close session: close code ${code} is not allowed`);
    }
    if (utf8Length(reason) > 123) {
      throw new RangeError("Cannot close session: the reason is longer than 123 bytes");
    }
    if (this.#state === _OPEN) this.#beginClose({ kind: "server", code, reason });
    return this.#whenClosed();
  }

  #whenClosed(): Promise<CloseCause> {
    const rare = this.#x();
    if (rare.closed === undefined) {
      if (this.#state === _CLOSED) {
        rare.closed = Promise.resolve(rare.cause!);
      } else {
        rare.closed = new Promise((resolve) => rare.resolveClosed = resolve);
      }
    }
    return rare.closed;
  }

  #join(room: string): boolean {
    if (typeof room !== "string") {
      throw new TypeError(`Cannot join room: the name must be a string, got ${typeof room}`);
    }
    if (this.#state !== _OPEN) {
      throw new SessionClosedError(`Cannot join room "${room}": session is closed`);
    }
    const rooms = this.#rooms ??= new Set();
    if (rooms.has(room)) return false;
    const bytes = utf8Length(room);
    if (bytes < 1 || bytes > MAX_ROOM_NAME_BYTES) {
      throw new RangeError(
        `Cannot join room: the name must have 1 to ${MAX_ROOM_NAME_BYTES} bytes, got ${bytes}`,
      );
    }
    const max = this.#host.maxRooms;
    if (rooms.size >= max) {
      throw new RangeError(`Cannot join room "${room}": the session is already in ${max} rooms`);
    }
    rooms.add(room);
    this.#host.rooms.add(room, this);
    return true;
  }

  #leave(room: string): boolean {
    if (this.#state !== _OPEN || this.#rooms === undefined || !this.#rooms.delete(room)) {
      return false;
    }
    this.#host.rooms.delete(room, this);
    return true;
  }

  /** Leaves every room; the set stays, as the rooms it left. */
  #leaveAll(): void {
    const rooms = this.#rooms;
    if (rooms === undefined) return;
    for (const room of rooms) this.#host.rooms.delete(room, this);
  }

  /**
   * Offers one frame. While nothing waits in the queue and the socket is
   * under its high-water mark it goes out now: written at once, or, for a
   * session that coalesces, at the end of this tick together with the
   * tick's other frames. Otherwise it waits in the queue.
   */
  #offer(
    data: string | Uint8Array<ArrayBuffer>,
    bytes: number,
    frame: Frame | undefined,
  ): SendResult {
    if (this.#state !== _OPEN) return "closed";
    const host = this.#host;
    let queue = this.#queue;
    if (
      (queue === undefined || queue.length === 0) &&
      this.#socket.bufferedAmount + this.#pendingBytes < host.highWaterMark
    ) {
      if (
        this.#mode === _DIRECT || (this.#mode === _CORK && this.#receiving) ||
        (this.#mode === _JOIN && typeof data !== "string")
      ) {
        // (A corking runtime already corks sends made in the socket's own handler.)
        if (this.#pendingBytes > 0) this.#flushPending();
        return this.#write(data, bytes, 1) ? "sent" : "dropped";
      }
      const pending = this.#pending ??= [];
      if (pending.length === 0) host.defer(this);
      pending.push(data);
      this.#pendingBytes += bytes;
      if (this.#pendingBytes >= _COALESCE_BYTES) this.#flushPending();
      return "sent";
    }
    if (this.#pendingBytes > 0) this.#flushPending(); // they are older: they go first
    queue ??= this.#queue = new SendQueue(host.maxQueueMessages, host.maxQueueBytes, host.overflow);
    const result = queue.push(frame ?? { data, bytes });
    switch (result.kind) {
      case "queued":
        this.#x().messagesQueued++;
        if ("dropped" in result) this.#dropped("overflow", result.dropped, result.droppedBytes);
        if (!this.#drains) host.schedule(this);
        return "queued";
      case "dropped":
        this.#dropped("overflow", 1, bytes);
        return "dropped";
      case "overflow": {
        const error = new QueueFullError(queue.length, queue.bytes, bytes);
        this.#dropped("overflow", 1, bytes);
        host.counters.overflowCloses++;
        this.#beginClose({
          kind: "overflow",
          code: CloseCode.TRY_AGAIN_LATER,
          reason: "Send queue full",
          error,
        });
        return "dropped";
      }
    }
  }

  /**
   * Hands one frame holding `messages` messages to the socket; `false` if
   * the runtime refused it (counted as dropped).
   */
  #write(data: string | Uint8Array<ArrayBuffer>, bytes: number, messages: number): boolean {
    let status: number | void;
    try {
      status = this.#socket.send(data);
    } catch {
      status = 0; // the socket closed under us; its close event follows
    }
    if (status === 0) {
      this.#dropped("runtime", messages, bytes);
      return false;
    }
    this.#messagesSent += messages;
    this.#bytesSent += bytes;
    this.#host.counters.messagesSent += messages;
    return true;
  }

  /** Writes the frames this tick coalesced: one batch frame, or all under one cork. */
  #flushPending(): void {
    const pending = this.#pending;
    if (pending === undefined || pending.length === 0) return;
    const bytes = this.#pendingBytes;
    this.#pendingBytes = 0;
    if (this.#mode === _JOIN) {
      const count = pending.length;
      const frame = count === 1 ? pending[0] : `[${pending.join(",")}]`;
      pending.length = 0;
      this.#write(frame, bytes, count);
      return;
    }
    const socket = this.#socket;
    let dropped = 0;
    let droppedBytes = 0;
    socket.cork!(() => {
      for (let i = 0; i < pending.length; i++) {
        const data = pending[i];
        let status: number | void;
        try {
          status = socket.send(data);
        } catch {
          status = 0;
        }
        if (status === 0) {
          dropped++;
          droppedBytes += typeof data === "string" ? utf8Length(data) : data.byteLength;
        }
      }
    });
    const sent = pending.length - dropped;
    pending.length = 0;
    this.#messagesSent += sent;
    this.#bytesSent += bytes - droppedBytes;
    this.#host.counters.messagesSent += sent;
    if (dropped > 0) this.#dropped("runtime", dropped, droppedBytes);
  }

  /** Writes queued frames while the socket is under its high-water mark. */
  #flush(): boolean {
    const queue = this.#queue;
    if (queue === undefined) return true;
    const socket = this.#socket;
    const limit = this.#host.highWaterMark;
    while (this.#state === _OPEN && queue.length > 0 && socket.bufferedAmount < limit) {
      if (this.#mode === _JOIN && typeof queue.peek()!.data === "string") {
        this.#flushBatch(queue);
      } else {
        const frame = queue.shift()!;
        this.#write(frame.data, frame.bytes, 1);
      }
    }
    return queue.length === 0 || this.#state !== _OPEN;
  }

  /** Writes consecutive queued text frames as one batch frame of at most `_COALESCE_BYTES`. */
  #flushBatch(queue: SendQueue): void {
    const parts: string[] = [];
    let bytes = 0;
    for (let next = queue.peek(); next !== undefined; next = queue.peek()) {
      if (typeof next.data !== "string") break;
      if (parts.length > 0 && bytes + next.bytes > _COALESCE_BYTES) break;
      queue.shift();
      parts.push(next.data);
      bytes += next.bytes;
    }
    this.#write(parts.length === 1 ? parts[0] : `[${parts.join(",")}]`, bytes, parts.length);
  }

  /**
   * Counts dropped messages and reports them to `onDrop`. Drops caused by a
   * send inside `onDrop` itself are counted but not reported again, so a
   * hook that sends to a congested session cannot recurse.
   */
  #dropped(reason: DropInfo["reason"], messages: number, bytes: number): void {
    const rare = this.#x();
    rare.messagesDropped += messages;
    rare.bytesDropped += bytes;
    this.#host.counters.messagesDropped += messages;
    this.#host.counters.bytesDropped += bytes;
    if (rare.reportingDrop) return;
    rare.reportingDrop = true;
    try {
      this.#host.onDrop(this, { reason, messages, bytes });
    } finally {
      rare.reportingDrop = false;
    }
  }

  /** Decides to close: nothing is sent after this. */
  #beginClose(cause: CloseCause): void {
    if (this.#state !== _OPEN) return;
    this.#flushPending(); // accepted as sent before the decision
    this.#state = _CLOSING;
    this.#x().cause = cause;
    this.#releaseQueue();
    this.#leaveAll();
    try {
      this.#socket.close(cause.code, _truncateReason(cause.reason));
    } catch (error) {
      this.#host.report(error, this);
      this.#finish(undefined, true, false);
      return;
    }
    if (this.#state !== _CLOSING) return; // some runtimes (Bun) report the close inside close()
    const host = this.#host;
    this.#x().closeTimer = host.setTimeout(() => {
      this.#rare!.closeTimer = undefined;
      this.#finish(undefined, true, true);
    }, host.closeTimeout);
  }

  #releaseQueue(): void {
    const waiting = this.#in?.backlog;
    if (waiting !== undefined) {
      // Inbound messages no handler will see: counted as rejected.
      this.#x().messagesRejected += waiting.length;
      this.#host.counters.messagesRejected += waiting.length;
      this.#in!.backlog = undefined;
      this.#in!.backlogBytes = 0;
    }
    const queue = this.#queue;
    if (queue === undefined) return;
    this.#host.unschedule(this);
    if (queue.length > 0) this.#dropped("closed", queue.length, queue.bytes);
    queue.clear();
  }

  /**
   * Releases the session: out of every room and the registry, `onClose`,
   * promise. `lingering` if the runtime has not reported the connection
   * closed: it keeps counting toward the session caps until it does.
   */
  #finish(cause: CloseCause | undefined, forced: boolean, lingering: boolean): void {
    if (this.#state === _CLOSED) return;
    const rare = this.#x();
    if (this.#state === _OPEN) {
      rare.cause = cause;
      this.#releaseQueue();
      this.#leaveAll();
    }
    this.#state = _CLOSED;
    if (forced) rare.cause = { ...rare.cause!, forced: true };
    if (rare.closeTimer !== undefined) {
      this.#host.clearTimeout(rare.closeTimer);
      rare.closeTimer = undefined;
    }
    rare.lingering = lingering;
    this.#host.released(this, lingering);
    rare.resolveClosed?.(rare.cause!);
  }

  // The adapter-facing side. Reached through `_SessionDriver`, not part of the public API.

  /**
   * An inbound frame: size limit (1009), rate limit, then, in arrival
   * order and with at most `maxConcurrentHandlers` async hooks running,
   * decoding and the hook.
   */
  #receive(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void {
    if (this.#state !== _OPEN) return;
    this.#messagesReceived++;
    const host = this.#host;
    host.counters.messagesReceived++;
    const max = host.maxMessageBytes;
    let bytes: number;
    if (typeof data === "string") {
      bytes = data.length;
      if (bytes > max || (bytes * 3 > max && (bytes = utf8Length(data)) > max)) {
        this.#tooLarge();
        return;
      }
    } else {
      if (!(data instanceof Uint8Array)) data = new Uint8Array(data);
      bytes = data.byteLength;
      if (bytes > max) {
        this.#tooLarge();
        return;
      }
    }
    const inbound = this.#in ??= new _Inbound(
      host.burst * 1000,
      host.rate > 0 ? Math.floor(host.now()) : 0,
    );
    if (host.rate > 0 && !this.#takeToken(inbound)) return;
    if (inbound.inflight >= host.maxConcurrentHandlers || (inbound.backlog?.length ?? 0) > 0) {
      this.#wait(inbound, data);
      return;
    }
    this.#handle(data);
  }

  /** Decodes one frame and runs its hook. */
  #handle(data: string | Uint8Array<ArrayBuffer>): void {
    const host = this.#host;
    if (typeof data !== "string") {
      this.#call(host.onBinary, data);
      return;
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(data);
      if (host.validate !== undefined && !host.validate(envelope)) {
        throw new EnvelopeError("rejected", "Invalid envelope: rejected by validate()");
      }
    } catch (error) {
      this.#invalid(error);
      return;
    }
    this.#call(host.onMessage, envelope as Message<In>);
  }

  /** Takes a token from the session's bucket; `false` if the message is rejected. */
  #takeToken(inbound: _Inbound): boolean {
    const host = this.#host;
    // In thousandths of a token and whole milliseconds: small integers, so
    // the engine keeps them unboxed and a message allocates nothing here.
    const now = Math.floor(host.now());
    const refill = Math.max(0, now - inbound.refilledAt) * host.rate;
    inbound.tokens = Math.min(host.burst * 1000, inbound.tokens + refill);
    inbound.refilledAt = now;
    if (inbound.tokens >= 1000) {
      inbound.tokens -= 1000;
      inbound.rejectedRun = 0;
      return true;
    }
    inbound.rejectedRun++;
    this.#reject("rate-limited", inbound.rejectedRun === 1);
    if (inbound.rejectedRun >= host.rateLimitCloseAfter) {
      this.#beginClose({
        kind: "policy",
        code: CloseCode.POLICY_VIOLATION,
        reason: "Rate limit exceeded",
      });
    }
    return false;
  }

  /** Holds a frame until a handler slot frees, within the backlog's bounds. */
  #wait(inbound: _Inbound, data: string | Uint8Array<ArrayBuffer>): void {
    const host = this.#host;
    const bytes = _heldBytes(data);
    const backlog = inbound.backlog ??= new RingBuffer(host.maxPendingMessages);
    if (
      backlog.length >= host.maxPendingMessages ||
      inbound.backlogBytes + bytes > host.maxPendingBytes
    ) {
      this.#reject("busy", true);
      return;
    }
    backlog.push(data);
    inbound.backlogBytes += bytes;
  }

  /** An async hook settled: run waiting frames while slots are free. */
  #settled(): void {
    const inbound = this.#in!;
    inbound.inflight--;
    const backlog = inbound.backlog;
    while (
      backlog !== undefined && backlog.length > 0 && this.#state === _OPEN &&
      inbound.inflight < this.#host.maxConcurrentHandlers
    ) {
      const data = backlog.shift()!;
      inbound.backlogBytes -= _heldBytes(data);
      this.#handle(data);
    }
  }

  /** Counts a rejected inbound message, tells the hook, and (if `reply`) the client. */
  #reject(reason: "rate-limited" | "busy", reply: boolean): void {
    this.#x().messagesRejected++;
    this.#host.counters.messagesRejected++;
    this.#host.onRejectedMessage(this, reason);
    if (reply) {
      const text = encodeEnvelope(ERROR_TOPIC, {
        code: reason,
        message: reason === "busy"
          ? "Message rejected: too many messages waiting for the handler"
          : "Message rejected: rate limit exceeded",
      });
      this.#offer(text, utf8Length(text), undefined);
    }
  }

  #tooLarge(): void {
    this.#host.counters.tooLargeCloses++;
    this.#beginClose({
      kind: "too-large",
      code: CloseCode.MESSAGE_TOO_BIG,
      reason: "Received too big message", // Bun's words, which it sends itself
    });
  }

  #invalid(error: unknown): void {
    const host = this.#host;
    const envelopeError = error instanceof EnvelopeError
      ? error
      : new EnvelopeError("rejected", "Invalid envelope: validate() threw", { cause: error });
    this.#x().invalidMessages++;
    host.counters.invalidMessages++;
    host.onInvalidMessage(this, envelopeError);
    if (host.invalidMessage === "close") {
      this.#beginClose({
        kind: "invalid",
        code: CloseCode.INVALID_PAYLOAD,
        reason: envelopeError.message,
        error: envelopeError,
      });
    } else if (host.invalidMessage === "reply") {
      const text = encodeEnvelope(ERROR_TOPIC, {
        code: envelopeError.code,
        message: envelopeError.message,
      });
      this.#offer(text, utf8Length(text), undefined);
    }
  }

  /**
   * Calls a message hook; a throw or a rejection goes to `onError`, never up.
   * An async hook holds a handler slot until it settles.
   */
  #call<T>(hook: (session: Session<Ctx, In, Out>, value: T) => unknown, value: T): void {
    this.#receiving = true;
    try {
      const result = hook(this, value);
      if (result instanceof Promise) {
        const inbound = this.#in!;
        inbound.inflight++;
        const settle = inbound.settle ??= () => this.#settled();
        result.then(settle, (error) => {
          this.#host.report(error, this);
          settle();
        });
      }
    } catch (error) {
      this.#host.report(error, this);
    } finally {
      this.#receiving = false;
    }
  }

  #runtimeClosed(code: number, reason: string, kind: CloseCause["kind"] | undefined): void {
    if (this.#state === _CLOSED) {
      if (this.#rare!.lingering) {
        this.#rare!.lingering = false;
        this.#host.gone(this);
      }
      return;
    }
    if (this.#state === _CLOSING) {
      this.#finish(undefined, false, false);
      return;
    }
    const error = this.#rare?.runtimeError;
    let cause: CloseCause;
    if (kind === "too-large") {
      this.#host.counters.tooLargeCloses++;
      cause = { kind, code: CloseCode.MESSAGE_TOO_BIG, reason };
    } else if (kind !== undefined) {
      cause = { kind, code, reason, error };
    } else if (error !== undefined && _isTimeout(error)) {
      cause = { kind: "timeout", code, reason, error };
    } else if (error !== undefined || code === CloseCode.ABNORMAL) {
      cause = { kind: "error", code, reason, error };
    } else {
      cause = { kind: "client", code, reason };
    }
    this.#finish(cause, false, false);
  }

  #recordError(error: unknown): void {
    this.#x().runtimeError ??= error;
  }

  #shutdown(code: number, reason: string): void {
    this.#beginClose({ kind: "shutdown", code, reason });
  }

  static {
    _driver = {
      create: (host, socket, id, ctx, drains, batch, admission) =>
        new Session(host, socket, id, ctx, drains, batch, admission),
      admission: (session) => session.#admission,
      join: (session, room) => session.#join(room),
      leave: (session, room) => session.#leave(room),
      rooms: (session) => session.#rooms,
      flushPending: (session) => session.#flushPending(),
      receive: (session, data) => session.#receive(data),
      closed: (session, code, reason, kind) => session.#runtimeClosed(code, reason, kind),
      error: (session, error) => session.#recordError(error),
      flush: (session) => session.#flush(),
      offer: (session, frame) => session.#offer(frame.data, frame.bytes, frame),
      shutdown: (session, code, reason) => session.#shutdown(code, reason),
      forceClose: (session) => session.#finish(session.#rare?.cause, true, true),
      whenClosed: (session) => session.#whenClosed(),
    };
  }
}

/** The topic of the envelope answering a malformed one under `invalidMessage: "reply"`. */
export const ERROR_TOPIC = "$error";

// deno-lint-ignore no-explicit-any
type AnySession = Session<any, any, any>;

/** Internal operations on sessions for the server and the adapters. */
export interface SessionDriver {
  create<Ctx, In extends object, Out extends object>(
    host: SessionHost<Ctx, In, Out>,
    socket: Socket,
    id: string,
    ctx: Ctx,
    drains: boolean,
    batch: boolean,
    admission: unknown,
  ): Session<Ctx, In, Out>;
  admission(session: AnySession): unknown;
  join(session: AnySession, room: string): boolean;
  leave(session: AnySession, room: string): boolean;
  rooms(session: AnySession): Set<string> | undefined;
  flushPending(session: AnySession): void;
  receive(session: AnySession, data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void;
  closed(
    session: AnySession,
    code: number,
    reason: string,
    kind: CloseCause["kind"] | undefined,
  ): void;
  error(session: AnySession, error: unknown): void;
  flush(session: AnySession): boolean;
  offer(session: AnySession, frame: Frame): SendResult;
  shutdown(session: AnySession, code: number, reason: string): void;
  forceClose(session: AnySession): void;
  whenClosed(session: AnySession): Promise<CloseCause>;
}

/** Internal: the server's and adapters' access to session internals. */
export function _sessionDriver(): SessionDriver {
  return _driver;
}

function _isSendableCode(code: number): boolean {
  return Number.isInteger(code) &&
    (code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

function _isTimeout(error: unknown): boolean {
  const message = error instanceof Error
    ? error.message
    : (error as { message?: unknown })?.message;
  return typeof message === "string" && /ping|timeout|timed out/i.test(message);
}

/** The memory a held inbound frame takes, as the backlog bound counts it. */
function _heldBytes(data: string | Uint8Array): number {
  return typeof data === "string" ? data.length * 2 : data.byteLength;
}

function _truncateReason(reason: string): string {
  if (reason.length <= 41 || utf8Length(reason) <= 123) return reason;
  let end = Math.min(reason.length, 123);
  while (end > 0 && utf8Length(reason.slice(0, end)) > 123) end--;
  return reason.slice(0, end);
}
