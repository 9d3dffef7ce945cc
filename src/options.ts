import type { Contract } from "./contract.ts";
import type { EnvelopeError } from "./errors.ts";
import type { History, HistoryOptions } from "./history.ts";
import type { Envelope } from "./protocol.ts";
import type { CloseCause, DropInfo, Session } from "./session.ts";
import type { Message } from "./topics.ts";

export type { Refusal, ServeInfo, Upgrade } from "./serving.ts";
import type { Refusal, ServeInfo, Upgrade } from "./serving.ts";

/** The timer functions a server uses (the `timers` option); every field is optional. */
// deno-lint-ignore no-explicit-any
export type Timers = NonNullable<ServerOptions<any, any, any>["timers"]>;

/**
 * Options of a {@linkcode Server}. Every limit has a safe default.
 *
 * @typeParam Ctx The context type, inferred from `context`.
 * @typeParam In Each client topic's data, set by `contract`.
 * @typeParam Out Each server topic's data, set by `contract`.
 * @typeParam Req Each request's input and output, set by `contract`.
 */
export interface ServerOptions<
  Ctx,
  In extends object,
  Out extends object,
  Req extends Record<string, { input: unknown; output: unknown }> = Record<never, never>,
> {
  /**
   * The messages and requests, with a schema for each: see
   * {@linkcode defineContract}. It types `onMessage`, `send`, `publish` and
   * the `requests` handlers, and checks every inbound message first: an
   * unknown topic or invalid data never reaches a handler (it is counted,
   * reported to `onInvalidMessage` and answered as `invalidMessage` says).
   * Without it, any topic and any data reach `onMessage`.
   */
  contract?: Contract<In, Out, Req>;
  /**
   * A handler for each request of the contract: it gets the input (as its
   * schema outputs it) and returns the output, or a promise of it. The
   * client gets a `$reply` with the output, or with an error: the code and
   * message of a thrown {@linkcode RequestError}, or `"internal"` for any
   * other throw (which goes to `onError`; nothing of it is sent). Requests
   * take handler slots like `onMessage`.
   */
  requests?: [keyof Req] extends [never] ? Record<string, never> : {
    readonly [K in keyof NoInfer<Req>]: (
      session: Session<Ctx, In, Out>,
      input: Req[K]["input"],
    ) => Req[K]["output"] | Promise<Req[K]["output"]>;
  };
  /**
   * Checks outbound data too, for development: `send`, `publish`,
   * `sendTo` and `broadcast` throw a `TypeError` for a topic that is not a
   * server topic of the contract or data its schema refuses (an async
   * schema cannot be checked there: it throws too), and a request's output
   * that its schema refuses is answered `"internal"` and reported to
   * `onError`. The data is sent as given, never as a schema transforms it.
   * @default {false}
   */
  validateOutbound?: boolean;
  /**
   * The most requests of one session under way at once (being checked or
   * handled); beyond, a request gets a `$reply` with code
   * `"too-many-requests"`. Requests also take handler slots, so at most
   * `maxConcurrentHandlers` of them run at once anyway.
   * @default {16}
   */
  maxRequestsInFlight?: number;
  /**
   * Builds the session's context before the upgrade: authenticate here.
   * Return the context (or a promise of it), or refuse the upgrade: return
   * a `Response`, or throw an {@linkcode HttpError} for its status. Any
   * other throw is a bug in the factory: it is reported to `onError` (with
   * the request) and answered 500. Without it every upgrade is accepted and
   * `ctx` is `undefined`.
   */
  context?: (request: Request, info: ServeInfo) => Ctx | Response | Promise<Ctx | Response>;
  /** Called once a session is open; it may send and join rooms. */
  onConnect?: (session: Session<Ctx, In, Out>) => unknown;
  /** Called for each valid text envelope (checked by the contract, if any), in arrival order. */
  onMessage?: (session: Session<Ctx, In, Out>, message: Message<In>) => unknown;
  /** Called for each binary message, in arrival order. */
  onBinary?: (session: Session<Ctx, In, Out>, data: Uint8Array<ArrayBuffer>) => unknown;
  /** Called once per session after it closed and left every room (`cause.rooms`). */
  onClose?: (session: Session<Ctx, In, Out>, cause: CloseCause) => unknown;
  /** Called each time outgoing messages are dropped. */
  onDrop?: (session: Session<Ctx, In, Out>, drop: DropInfo) => unknown;
  /**
   * Called for each text frame that is not a valid envelope, or that the
   * contract refuses (`error.code` `"invalid"`, with `topic` and the
   * schema's `issues`).
   */
  onInvalidMessage?: (session: Session<Ctx, In, Out>, error: EnvelopeError) => unknown;
  /**
   * Called for each inbound message rejected by the rate limit, a full
   * backlog, or `maxRequestsInFlight`.
   */
  onRejectedMessage?: (
    session: Session<Ctx, In, Out>,
    reason: "rate-limited" | "busy" | "too-many-requests",
  ) => unknown;
  /**
   * Called for each upgrade request refused before the upgrade, with the
   * status it got and why: the place to log refusals.
   */
  onRefuse?: (request: Request, refusal: Refusal) => unknown;
  /**
   * Called when a hook throws or rejects, when the context factory throws
   * something other than an `HttpError` (then `request` is set and the
   * client got 500), and for a misconfiguration found while serving.
   * @default {console.error}
   */
  onError?: (
    error: unknown,
    session: Session<Ctx, In, Out> | undefined,
    request?: Request,
  ) => unknown;
  /**
   * Answers requests that are not WebSocket upgrades.
   * @default {a 426 Upgrade Required response}
   */
  fallback?: (request: Request, info: ServeInfo) => Response | Promise<Response>;
  /** Subprotocols the server speaks, best first; the first one the client offers is chosen. */
  protocols?: readonly string[];
  /**
   * Accept clients that offer the subprotocol {@linkcode BATCH_PROTOCOL}:
   * the text messages a session is sent in one tick then travel together
   * as one text frame holding a JSON array of envelopes (decode with
   * {@linkcode decodeFrame}). Plain clients are unaffected. Checked after
   * `protocols`.
   * @default {true}
   */
  batch?: boolean;
  /**
   * Accept clients that offer protocol v1 (`"switchboard.v1"`, or
   * `"switchboard.v1.batch"` if `batch` is on too, preferred when a client
   * offers both), checked after `protocols` and before
   * `"switchboard.batch"`. A v1 session gets
   * `$hello` before anything else, the heartbeat, `$join` and `$leave`,
   * and resume from the room history (PROTOCOL.md).
   * @default {true}
   */
  protocol?: boolean;
  /**
   * Milliseconds after which a v1 session that was sent nothing gets
   * `{"topic":"$heartbeat"}`, so that a browser, which cannot see pings,
   * sees the connection alive (`$hello` announces it); 0 turns it off. One
   * timer walks the v1 sessions every half interval.
   * @default {15000}
   */
  heartbeat?: number;
  /**
   * The history of the rooms v1 clients join with `$join`: each message
   * published to such a room gets a sequence number and is kept in a
   * bounded window, so that a client coming back with
   * `$join {room, since}` gets what it missed, or `recovered: false`.
   * `true` for the default bounds (256 messages, 1 MiB and 120 s a room,
   * 64 MiB in all), the bounds to change them, a `History` to share (a
   * new server after `shutdown()` resumes the same rooms: pass it the
   * first one's `server.history`), or `false` for none.
   * @default {true}
   */
  history?: boolean | HistoryOptions | History;
  /**
   * Decides whether a v1 client may join a room with `$join`: `true`, or a
   * promise of it, lets it in; anything else refuses with code
   * `"forbidden"`, a thrown {@linkcode RequestError} with its code, any
   * other throw with `"internal"` (and `onError`). Without it, clients
   * cannot join rooms by themselves.
   */
  authorizeJoin?: (session: Session<Ctx, In, Out>, room: string) => boolean | Promise<boolean>;
  /**
   * The largest inbound message in bytes; a larger one closes the session with 1009.
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * Seconds of silence before the runtime pings a peer and closes it if
   * nothing comes back; 0 disables it. Any inbound traffic counts as alive
   * (a peer that sends but never reads is bounded by its send queue, not by
   * this). Deno closes after `idleTimeout`; on Bun the adapter does the
   * same, within 1.5 × `idleTimeout`, since Bun's own timer restarts on
   * every frame the server sends (a heartbeat would keep a dead peer). Deno's
   * own default is 30 s, Bun's 120 s: switchboard sets 30 on both.
   * @default {30}
   */
  idleTimeout?: number;
  /**
   * The most messages a session's send queue holds.
   * @default {1024}
   */
  maxQueueMessages?: number;
  /**
   * The most bytes a session's send queue holds.
   * @default {1048576}
   */
  maxQueueBytes?: number;
  /**
   * What to do when the send queue is full: close the session with 1013,
   * or drop the oldest or the newest message.
   * @default {"close"}
   */
  overflow?: "close" | "drop-oldest" | "drop-newest";
  /**
   * Bytes the runtime may hold for a socket before new messages wait in the
   * session's own queue.
   * @default {65536}
   */
  highWaterMark?: number;
  /**
   * What a malformed text envelope, or one the contract refuses, gets:
   * `"reply"` an envelope on topic `"$error"` with `{ code, message }` (and
   * `topic` and `issues` under a contract; a request with a usable id gets
   * a `$reply` with that error instead); `"close"` a close with 1007;
   * `"ignore"` nothing. It is counted and reported to `onInvalidMessage` in
   * every case.
   * @default {"reply"}
   */
  invalidMessage?: "reply" | "close" | "ignore";
  /**
   * Checks each decoded envelope before the contract and `onMessage`;
   * `false` or a throw makes it invalid. Throw an {@linkcode EnvelopeError}
   * to choose the `code` and `message` the client gets under
   * `invalidMessage: "reply"`. A `contract` is the typed way to check data.
   */
  validate?: (envelope: Envelope) => boolean;
  /**
   * Milliseconds to wait for the closing handshake before a closing session
   * is released anyway (`cause.forced`).
   * @default {5000}
   */
  closeTimeout?: number;
  /**
   * Makes session ids.
   * @default {crypto.randomUUID}
   */
  generateId?: () => string;
  /**
   * Upgrades a request to a standard `WebSocket`.
   * @default {Deno.upgradeWebSocket}
   */
  upgrade?: Upgrade;
  /**
   * Which `Origin` may open a WebSocket (Cross-Site WebSocket Hijacking):
   * `"same-host"` when the Origin's host is the request's `Host`, `"*"` for
   * any, or a list of exact origins (`"https://app.example.com"`; compared
   * after lower-casing and dropping a default port). A refused Origin gets
   * 403 before the context factory runs. `"null"` is never on a list.
   *
   * `"same-host"` refuses a page served from another origin: `localhost`
   * against `127.0.0.1`, a dev server on another port, a `file://` page.
   * List those origins to allow them.
   * @default {"same-host"}
   */
  origins?: "same-host" | "*" | readonly string[];
  /**
   * Whether a request without an `Origin` (not from a browser) passes the
   * origin check.
   * @default {true}
   */
  allowMissingOrigin?: boolean;
  /**
   * Milliseconds an async context factory may take (later: 503), and then
   * the socket to open after the 101 (later: the handshake's place under
   * the caps is given back, `stats.abandoned`, and a socket that opens after
   * all is closed with 1013).
   * @default {5000}
   */
  handshakeTimeout?: number;
  /**
   * The most sessions at once (handshakes under way count); beyond, 503.
   * @default {50000}
   */
  maxSessions?: number;
  /**
   * The most sessions at once per client key; beyond, 429. A request
   * without a key (no remote address: `server.fetch(request)` called
   * without `info`) is not counted per client; `onError` says so once.
   * @default {1024}
   */
  maxSessionsPerClient?: number;
  /**
   * The key `maxSessionsPerClient` counts by; `""` or `undefined` for none.
   * Behind a proxy, use the forwarded address. Not called when
   * `maxSessionsPerClient` is `Infinity`.
   * @default {the remote address's hostname}
   */
  clientKey?: (request: Request, info: ServeInfo) => string | undefined;
  /**
   * Two token buckets on each session's inbound traffic: `rate` messages a
   * second, up to `burst` at once, and `bytes` bytes a second (UTF-8 for
   * text), up to `burstBytes` at once, so that a few large messages cannot
   * take the server's time from everyone else. A message over either limit
   * is rejected before it is decoded (counted, `onRejectedMessage`; the
   * first of a run gets a `"$error"` envelope with code `"rate-limited"`),
   * and `closeAfter` rejections in a row close the session with 1008.
   * `false` turns both off. A chat never meets the defaults.
   * @default {{ rate: 100, burst: 200, bytes: 1048576, burstBytes: maxMessageBytes, closeAfter: 50 }}
   */
  rateLimit?: {
    rate: number;
    burst?: number;
    bytes?: number;
    burstBytes?: number;
    closeAfter?: number;
  } | false;
  /**
   * How many async `onMessage`/`onBinary` calls may run at once per session.
   * Messages are handled in arrival order; while all slots are taken, new
   * ones wait in a bounded backlog.
   * @default {1}
   */
  maxConcurrentHandlers?: number;
  /**
   * The most inbound messages waiting for a handler slot per session; beyond,
   * a message is rejected (`"$error"` with code `"busy"`).
   * @default {64}
   */
  maxPendingMessages?: number;
  /**
   * The most memory (UTF-16 text counts 2 bytes a unit) that waiting inbound
   * messages may take per session.
   * @default {2097152}
   */
  maxPendingBytes?: number;
  /**
   * The most rooms one session may be in; `join` throws a `RangeError`
   * beyond. Room names have 1 to 255 UTF-8 bytes.
   * @default {128}
   */
  maxRoomsPerSession?: number;
  /**
   * The timer functions, for tests that drive time by hand; every field is optional.
   * @default {globalThis.setTimeout, clearTimeout, performance.now and setImmediate}
   */
  timers?: {
    /** Like `globalThis.setTimeout`. */
    setTimeout?(fn: () => void, ms: number): unknown;
    /** Like `globalThis.clearTimeout`. */
    clearTimeout?(id: unknown): void;
    /** Milliseconds on a monotonic clock, like `performance.now`. */
    now?(): number;
    /** Runs `fn` at the end of this event-loop turn, like `globalThis.setImmediate`. */
    setImmediate?(fn: () => void): unknown;
  };
}

/** Options of {@linkcode Server.shutdown}. */
export interface ShutdownOptions {
  /**
   * The close code sent to every session.
   * @default {1001}
   */
  code?: number;
  /**
   * The close reason.
   * @default {"Server shutting down"}
   */
  reason?: string;
  /**
   * Milliseconds to wait for the closing handshakes before releasing the rest.
   * @default {5000}
   */
  timeout?: number;
}
