import { CloseCode } from "./close_codes.ts";
import { encodeEnvelope } from "./protocol.ts";
import { utf8Length } from "./utf8.ts";

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
 * | `"timeout"` | the runtime's idle timeout (no pong) | 1001 (Bun's own timer: 1006) |
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
  /**
   * The rooms the session was in when the close was decided. It has left
   * them all by the time `onClose` runs, so a publish to them reaches only
   * the others: the place to tell a room who left.
   */
  readonly rooms: ReadonlySet<string>;
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
  /**
   * The rooms the session is in now (a live view); empty once it is
   * closing. `onClose` finds the rooms it was in in `cause.rooms`.
   */
  readonly current: ReadonlySet<string>;
}

/**
 * What a {@linkcode Session} delegates to: the server's engine of one
 * connection. Internal; the server makes both, and nothing else needs to.
 */
export interface SessionEngine {
  /** `"open"`, `"closing"` or `"closed"`. */
  readonly state: "open" | "closing" | "closed";
  /** Why it closed, once it is closing. */
  readonly closeCause: CloseCause | undefined;
  /** A snapshot of the counters. */
  readonly stats: SessionStats;
  /** The rooms it is in now; empty once closing. */
  currentRooms(): ReadonlySet<string>;
  /** Joins a room, as {@linkcode SessionRooms.join}. */
  join(room: string): boolean;
  /** Leaves a room, as {@linkcode SessionRooms.leave}. */
  leave(room: string): boolean;
  /** Offers one frame to the outbound side. */
  offer(data: string | Uint8Array<ArrayBuffer>, bytes: number): SendResult;
  /** Decides to close (once) and resolves when closed. */
  end(code: number, reason: string): Promise<CloseCause>;
  /** Checks data to send under `validateOutbound` (throws a `TypeError`); else `undefined`. */
  readonly check: ((topic: string, data: unknown) => void) | undefined;
}

/**
 * One WebSocket connection after a successful upgrade: its id, the context
 * the context factory returned, its rooms, a bounded send queue, and its
 * lifecycle. Sessions are made by the {@linkcode Server}; you meet them in
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
 *   onClose(session, cause) {
 *     console.log(session.id, "closed:", cause.kind, cause.code, "left", [...cause.rooms]);
 *   },
 * });
 * ```
 */
export class Session<
  Ctx = undefined,
  In extends object = Record<string, unknown>,
  Out extends object = Record<string, unknown>,
> {
  /** A crypto-random id, unique within the server. */
  readonly id: string;
  /** What the context factory returned for this connection. */
  readonly ctx: Ctx;
  readonly #engine: SessionEngine;

  /**
   * Made by the server for each connection; an application never makes one.
   *
   * @param id The session's id.
   * @param ctx The context.
   * @param engine The connection it is the face of.
   */
  constructor(id: string, ctx: Ctx, engine: SessionEngine) {
    this.id = id;
    this.ctx = ctx;
    this.#engine = engine;
  }

  /** `"open"`, `"closing"` (close decided, handshake under way) or `"closed"`. */
  get state(): "open" | "closing" | "closed" {
    return this.#engine.state;
  }

  /** `true` once the session is closing or closed: nothing more is sent. */
  get closed(): boolean {
    return this.#engine.state !== "open";
  }

  /** Why the session closed, once it is closing or closed. */
  get closeCause(): CloseCause | undefined {
    return this.#engine.closeCause;
  }

  /** The session's rooms: `join`, `leave`, `has`, `current`. */
  get rooms(): SessionRooms {
    return new _Rooms(this.#engine);
  }

  /** A snapshot of the session's counters. */
  get stats(): SessionStats {
    return this.#engine.stats;
  }

  /**
   * Sends a message as a text frame holding the envelope `{"topic", "data"}`.
   * Never blocks, never throws on backpressure.
   *
   * @typeParam K The topic.
   * @param topic The topic.
   * @param data The data; anything `JSON.stringify` accepts.
   * @returns What happened to the message.
   * @throws {TypeError} If `data` cannot be serialized (a `BigInt`, a
   *   cycle), or `validateOutbound` refuses it.
   */
  send<K extends keyof Out & string>(topic: K, data: Out[K]): SendResult {
    const engine = this.#engine;
    if (engine.state !== "open") return "closed";
    engine.check?.(topic, data);
    const text = encodeEnvelope(topic, data);
    return engine.offer(text, utf8Length(text));
  }

  /**
   * Sends bytes as a binary frame. Never blocks, never throws on backpressure.
   * The bytes are not copied: do not change them after the call.
   *
   * @param data The bytes.
   * @returns What happened to the message.
   */
  sendBinary(data: Uint8Array<ArrayBuffer>): SendResult {
    return this.#engine.offer(data, data.byteLength);
  }

  /**
   * Closes the session: it leaves every room at once, messages still in its
   * send queue are dropped (counted, reported to `onDrop`), and the closing
   * handshake starts. Calling it again returns the same promise. A reason
   * alone closes with 1000: `session.close("Kicked out")`.
   *
   * @param code A close code (1000, 1001-1003, 1007-1014 or 3000-4999), or the reason alone.
   * @param reason A reason of at most 123 UTF-8 bytes.
   * @returns A promise of the close cause, resolved once the session is closed
   *   (the handshake finished, or `closeTimeout` passed).
   * @throws {TypeError} If the reason is given twice, or is not a string.
   * @throws {RangeError} If the code is not allowed or the reason is too long.
   */
  close(code?: number | string, reason?: string): Promise<CloseCause> {
    if (typeof code === "string") {
      if (reason !== undefined) {
        throw new TypeError("Cannot close session: a reason was given twice");
      }
      reason = code;
      code = undefined;
    }
    code ??= CloseCode.NORMAL;
    reason ??= "";
    if (!_isSendableCode(code)) {
      throw new RangeError(`Cannot close session: close code ${code} is not allowed`);
    }
    if (typeof reason !== "string") {
      throw new TypeError(
        `Cannot close session: the reason must be a string, got ${typeof reason}`,
      );
    }
    if (utf8Length(reason) > 123) {
      throw new RangeError("Cannot close session: the reason is longer than 123 bytes");
    }
    return this.#engine.end(code, reason);
  }
}

/** The `session.rooms` view; made per access, it holds nothing but the engine. */
class _Rooms implements SessionRooms {
  readonly #engine: SessionEngine;

  constructor(engine: SessionEngine) {
    this.#engine = engine;
  }

  get current(): ReadonlySet<string> {
    return this.#engine.currentRooms();
  }

  join(room: string): boolean {
    return this.#engine.join(room);
  }

  leave(room: string): boolean {
    return this.#engine.leave(room);
  }

  has(room: string): boolean {
    return this.#engine.currentRooms().has(room);
  }
}

function _isSendableCode(code: unknown): code is number {
  return Number.isInteger(code) &&
    (code === 1000 || ((code as number) >= 1001 && (code as number) <= 1003) ||
      ((code as number) >= 1007 && (code as number) <= 1014) ||
      ((code as number) >= 3000 && (code as number) <= 4999));
}
