import { CloseCode } from "./close_codes.ts";
import { type EnvelopeError, HttpError } from "./errors.ts";
import { BATCH_PROTOCOL, encodeEnvelope, type Envelope, utf8Length } from "./protocol.ts";
import { RoomIndex } from "./rooms.ts";
import type { Frame, OverflowPolicy } from "./send_queue.ts";
import {
  _sessionDriver,
  type CloseCause,
  type DropInfo,
  type SendResult,
  type ServerCounters,
  type Session,
  type SessionHost,
} from "./session.ts";
import type { Socket } from "./socket.ts";
import type { EventMap, Message, Topics } from "./topics.ts";
import { attachWebSocket, type Upgrade, upgradeWithDeno } from "./upgrade.ts";

/**
 * What the HTTP server knows about the connection; a structural subset of
 * `Deno.ServeHandlerInfo`, filled the same way by the Bun adapter.
 */
export interface ServeInfo {
  /** The client's address, when the runtime gives one. */
  readonly remoteAddr?: {
    readonly hostname?: string;
    readonly port?: number;
    readonly transport?: string;
  };
}

/**
 * Runs before the upgrade and returns the session's context, or refuses the
 * upgrade by returning a `Response` or throwing (an {@linkcode HttpError}
 * sets the status; anything else gives 401).
 *
 * @typeParam Ctx The context type; inferred from the function's return type.
 */
export type ContextFactory<Ctx> = (
  request: Request,
  info: ServeInfo,
) => Ctx | Response | Promise<Ctx | Response>;

/**
 * Options of a {@linkcode Server}. Every limit has a safe default.
 *
 * @typeParam Ctx The context type, inferred from `context`.
 * @typeParam In The event map of messages from clients, set by `topics`.
 * @typeParam Out The event map of messages to clients, set by `topics`.
 */
export interface ServerOptions<Ctx, In extends object, Out extends object> {
  /**
   * The topics in each direction, as types: `defineTopics<In, Out>()`.
   * Only types; runtime checks go in `validate`.
   */
  topics?: Topics<In, Out>;
  /**
   * Builds the session's context before the upgrade: authenticate here.
   * Without it every upgrade is accepted and `ctx` is `undefined`.
   */
  context?: ContextFactory<Ctx>;
  /** Called once a session is open; it may send and join rooms. */
  onConnect?: (session: Session<Ctx, In, Out>) => unknown;
  /** Called for each valid text envelope, in arrival order. */
  onMessage?: (session: Session<Ctx, In, Out>, message: Message<In>) => unknown;
  /** Called for each binary message, in arrival order. */
  onBinary?: (session: Session<Ctx, In, Out>, data: Uint8Array<ArrayBuffer>) => unknown;
  /** Called once per session after it closed and left every room. */
  onClose?: (session: Session<Ctx, In, Out>, cause: CloseCause) => unknown;
  /** Called each time outgoing messages are dropped. */
  onDrop?: (session: Session<Ctx, In, Out>, drop: DropInfo) => unknown;
  /** Called for each text frame that is not a valid envelope. */
  onInvalidMessage?: (session: Session<Ctx, In, Out>, error: EnvelopeError) => unknown;
  /**
   * Called when a hook throws or rejects.
   * @default {console.error}
   */
  onError?: (error: unknown, session: Session<Ctx, In, Out> | undefined) => unknown;
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
   * The largest inbound message in bytes; a larger one closes the session with 1009.
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * Seconds without a pong (Deno) or without traffic (Bun) before the runtime
   * closes the connection; 0 disables it. Deno's own default is 30 s, Bun's
   * 120 s: switchboard sets 30 on both.
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
  overflow?: OverflowPolicy;
  /**
   * Bytes the runtime may hold for a socket before new messages wait in the
   * session's own queue.
   * @default {65536}
   */
  highWaterMark?: number;
  /**
   * What a malformed text envelope gets: `"reply"` an envelope on topic
   * `"$error"` with `{ code, message }`; `"close"` a close with 1007;
   * `"ignore"` nothing. It is counted and reported to `onInvalidMessage` in
   * every case.
   * @default {"reply"}
   */
  invalidMessage?: "reply" | "close" | "ignore";
  /**
   * Checks each decoded envelope before `onMessage`; `false` or a throw makes
   * it invalid. The place for schema validation. Throw an
   * {@linkcode EnvelopeError} to choose the `code` and `message` the client
   * gets under `invalidMessage: "reply"`.
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
   * Milliseconds an async context factory may take; later, 503.
   * @default {5000}
   */
  handshakeTimeout?: number;
  /**
   * The most sessions at once (handshakes under way count); beyond, 503.
   * @default {50000}
   */
  maxSessions?: number;
  /**
   * The most sessions at once per client key; beyond, 429.
   * @default {1024}
   */
  maxSessionsPerClient?: number;
  /**
   * The key `maxSessionsPerClient` counts by. Behind a proxy, use the
   * forwarded address.
   * @default {the remote address's hostname}
   */
  clientKey?: (request: Request, info: ServeInfo) => string;
  /**
   * A token bucket on each session's inbound messages: `rate` per second,
   * up to `burst` at once. A message over the limit is rejected (counted,
   * `onRejectedMessage`; the first of a run gets a `"$error"` envelope with
   * code `"rate-limited"`), and `closeAfter` rejections in a row close the
   * session with 1008. `false` turns it off.
   * @default {{ rate: 100, burst: 200, closeAfter: 50 }}
   */
  rateLimit?: { rate: number; burst?: number; closeAfter?: number } | false;
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
   * The most rooms one session may be in; `join` throws a `RangeError` beyond.
   * @default {128}
   */
  maxRoomsPerSession?: number;
  /** Called for each inbound message rejected by the rate limit or a full backlog. */
  onRejectedMessage?: (session: Session<Ctx, In, Out>, reason: "rate-limited" | "busy") => unknown;
  /**
   * The timer functions, for tests that drive time by hand.
   * @default {globalThis.setTimeout and clearTimeout}
   */
  timers?: Timers;
}

/** The timer functions a server uses. */
export interface Timers {
  /** Like `globalThis.setTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Like `globalThis.clearTimeout`. */
  clearTimeout(id: unknown): void;
  /** Milliseconds on a monotonic clock, like `performance.now`. */
  now?(): number;
}

/** Options of {@linkcode Server.publish}. */
export interface PublishOptions {
  /** A session, or several, that must not receive it (typically the sender). */
  // deno-lint-ignore no-explicit-any
  except?: Session<any, any, any> | Iterable<Session<any, any, any>>;
}

/** How a publish went: each recipient counts once under what happened to its copy. */
export interface PublishResult {
  /** Sessions offered the message. */
  readonly recipients: number;
  /** Copies handed to the socket. */
  readonly sent: number;
  /** Copies waiting in send queues. */
  readonly queued: number;
  /** Copies dropped by overflow policies. */
  readonly dropped: number;
  /** Recipients already closing. */
  readonly closed: number;
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

/** Server-wide counters. */
export interface ServerStats {
  /** Sessions open or closing now. */
  readonly sessions: number;
  /**
   * Sessions released (`cause.forced`) whose connection the runtime has not
   * closed yet: a peer that never answers the close keeps its TCP connection
   * open on Deno, which has no way to abort it. They still count toward
   * `maxSessions` and `maxSessionsPerClient` until the connection ends.
   */
  readonly lingering: number;
  /** Rooms with at least one member now. */
  readonly rooms: number;
  /** Sessions ever opened. */
  readonly opened: number;
  /** Sessions ever closed. */
  readonly closed: number;
  /** Upgrade requests refused before the upgrade (context factory, shutdown). */
  readonly rejected: number;
  /** Messages received. */
  readonly messagesReceived: number;
  /** Messages handed to sockets. */
  readonly messagesSent: number;
  /** Outgoing messages dropped, for any reason. */
  readonly messagesDropped: number;
  /** Outgoing bytes dropped. */
  readonly bytesDropped: number;
  /** Inbound text frames that were not valid envelopes. */
  readonly invalidMessages: number;
  /** Inbound messages rejected by the rate limit or a full handler backlog. */
  readonly messagesRejected: number;
  /** Sessions closed because their send queue overflowed. */
  readonly overflowCloses: number;
  /** Sessions closed with 1009 for an inbound message too large. */
  readonly tooLargeCloses: number;
}

/**
 * A context accepted by {@linkcode Server.handshake}, waiting for its socket.
 *
 * @typeParam Ctx The context type.
 */
export interface Handshake<Ctx> {
  /** What the context factory returned. */
  readonly ctx: Ctx;
  /** The chosen subprotocol, if any. */
  readonly protocol: string | undefined;
}

/** Options of {@linkcode Server.open}. */
export interface OpenOptions {
  /**
   * `true` if the adapter calls {@linkcode Connection.drain} when the socket
   * can take more; otherwise the server polls congested sockets.
   * @default {false}
   */
  drains?: boolean;
}

/**
 * The runtime's side of one session: an adapter reports the socket's events
 * here. Made by {@linkcode Server.open}.
 *
 * @typeParam Ctx The context type.
 * @typeParam In The inbound event map.
 * @typeParam Out The outbound event map.
 */
export interface Connection<Ctx, In extends object, Out extends object> {
  /** The session. */
  readonly session: Session<Ctx, In, Out>;
  /** A message arrived: a string for a text frame, bytes for a binary one. */
  message(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void;
  /** The socket reported an error; its close follows. */
  error(error: unknown): void;
  /** The socket can take more data. */
  drain(): void;
  /**
   * The socket closed with this code and reason. An adapter that knows why
   * the runtime closed it (its own size limit, its idle timeout) says so in
   * `kind`; otherwise the session infers it.
   */
  close(code: number, reason: string, kind?: CloseCause["kind"]): void;
}

/** The limits a server enforces, for adapters to configure their runtime with. */
export interface ServerLimits {
  /** The largest inbound message in bytes. */
  readonly maxMessageBytes: number;
  /** Seconds of silence before the runtime closes a connection; 0 for never. */
  readonly idleTimeout: number;
  /** Bytes the runtime may buffer per socket before messages wait in the send queue. */
  readonly highWaterMark: number;
}

const _driver = _sessionDriver();

/**
 * Internal, for the package's own adapters: `server.open()` without the
 * `Connection` wrapper; they report events through the session driver.
 */
export let _openSession: <Ctx, In extends object, Out extends object>(
  server: Server<Ctx, In, Out>,
  socket: Socket,
  handshake: Handshake<Ctx>,
  options: OpenOptions,
) => Session<Ctx, In, Out>;
const _DRAIN_POLL_MS = 5;
const _MiB = 1024 * 1024;

/**
 * A WebSocket server: a request handler for `Deno.serve`, a registry of
 * sessions, a room index, publish and graceful shutdown. The core names no
 * runtime; Deno is the default upgrade and Bun has an adapter.
 *
 * @typeParam Ctx The context type, inferred from the `context` option.
 * @typeParam In The event map of messages from clients.
 * @typeParam Out The event map of messages to clients.
 *
 * @example A chat room
 * ```ts
 * import { HttpError, Server } from "@switchboard/ws";
 *
 * const server = new Server({
 *   context(request) {
 *     const name = new URL(request.url).searchParams.get("name");
 *     if (!name) throw new HttpError(401, "Missing name");
 *     return { name };
 *   },
 *   onConnect(session) {
 *     session.rooms.join("lobby");
 *   },
 *   onMessage(session, message) {
 *     server.publish("lobby", message.topic, { from: session.ctx.name, data: message.data });
 *   },
 * });
 * const http = Deno.serve({ port: 0, onListen() {} }, server.fetch);
 * await server.shutdown();
 * await http.shutdown();
 * ```
 */
export class Server<
  Ctx = undefined,
  In extends object = EventMap,
  Out extends object = EventMap,
> {
  readonly #options: ServerOptions<Ctx, In, Out>;
  readonly #sessions = new Map<string, Session<Ctx, In, Out>>();
  readonly #host: SessionHost<Ctx, In, Out>;
  readonly #counters: ServerCounters = {
    opened: 0,
    closed: 0,
    rejected: 0,
    messagesReceived: 0,
    messagesSent: 0,
    messagesDropped: 0,
    bytesDropped: 0,
    invalidMessages: 0,
    messagesRejected: 0,
    overflowCloses: 0,
    tooLargeCloses: 0,
  };
  readonly #congested = new Set<Session<Ctx, In, Out>>();
  #deferred: Session<Ctx, In, Out>[] = [];
  #spare: Session<Ctx, In, Out>[] = [];
  readonly #timers: Timers;
  readonly #idleTimeout: number;
  readonly #protocols: readonly string[];
  readonly #batch: boolean;
  readonly #origins: "*" | "same-host" | ReadonlySet<string>;
  readonly #handshakeTimeout: number;
  readonly #maxSessions: number;
  readonly #maxPerClient: number;
  readonly #clientKey: (request: Request, info: ServeInfo) => string;
  #admitted = 0;
  readonly #perClient = new Map<string, number>();
  readonly #lingering = new Set<Session<Ctx, In, Out>>();
  #pollTimer: unknown;
  #shutdown: Promise<void> | undefined;

  /**
   * Creates a server.
   *
   * @param options The context factory, hooks and limits.
   * @throws {RangeError} If a limit is out of range.
   */
  constructor(options: ServerOptions<Ctx, In, Out> = {}) {
    this.#options = options;
    const timers = this.#timers = options.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (id) => clearTimeout(id as number),
    };
    this.#idleTimeout = _limit("idleTimeout", options.idleTimeout ?? 30, 0);
    this.#protocols = options.protocols ?? [];
    const origins = options.origins ?? "same-host";
    if (typeof origins === "string" && origins !== "*" && origins !== "same-host") {
      throw new RangeError(
        `Invalid option "origins": expected "same-host", "*" or a list of origins, got "${origins}"`,
      );
    }
    this.#origins = typeof origins === "string" ? origins : new Set(origins.map((origin) => {
      const normal = _normalOrigin(origin);
      if (normal === undefined) {
        throw new RangeError(`Invalid option "origins": "${origin}" is not an origin`);
      }
      return normal;
    }));
    this.#handshakeTimeout = _limit("handshakeTimeout", options.handshakeTimeout ?? 5000, 1);
    this.#maxSessions = _limit("maxSessions", options.maxSessions ?? 50_000, 1, Infinity);
    this.#maxPerClient = _limit(
      "maxSessionsPerClient",
      options.maxSessionsPerClient ?? 1024,
      1,
      Infinity,
    );
    this.#clientKey = options.clientKey ?? ((_, info) => info.remoteAddr?.hostname ?? "");
    const rateLimit = options.rateLimit ?? { rate: 100, burst: 200 };
    const now = timers.now?.bind(timers) ?? (() => performance.now());
    this.#batch = options.batch ?? true;
    const hook = <A extends unknown[]>(fn: ((...args: A) => unknown) | undefined) =>
      fn === undefined ? _noop : (...args: A) => this.#call(fn, args);
    const onMessage = options.onMessage ?? _noop;
    const onBinary = options.onBinary ?? _noop;
    this.#host = {
      rooms: new RoomIndex(),
      maxQueueMessages: _limit("maxQueueMessages", options.maxQueueMessages ?? 1024, 1, 2 ** 30),
      maxQueueBytes: _limit("maxQueueBytes", options.maxQueueBytes ?? _MiB, 1),
      overflow: _oneOf("overflow", options.overflow ?? "close", _POLICIES),
      highWaterMark: _limit("highWaterMark", options.highWaterMark ?? 64 * 1024, 1),
      maxMessageBytes: _limit("maxMessageBytes", options.maxMessageBytes ?? _MiB, 1),
      invalidMessage: _oneOf("invalidMessage", options.invalidMessage ?? "reply", _INVALID),
      closeTimeout: _limit("closeTimeout", options.closeTimeout ?? 5000, 0),
      validate: options.validate,
      rate: rateLimit === false ? 0 : _positive("rateLimit.rate", rateLimit.rate),
      burst: rateLimit === false
        ? 0
        : _limit("rateLimit.burst", rateLimit.burst ?? rateLimit.rate, 1),
      rateLimitCloseAfter: rateLimit === false
        ? Infinity
        : _limit("rateLimit.closeAfter", rateLimit.closeAfter ?? 50, 1, Infinity),
      maxConcurrentHandlers: _limit(
        "maxConcurrentHandlers",
        options.maxConcurrentHandlers ?? 1,
        1,
        Infinity,
      ),
      maxPendingMessages: _limit(
        "maxPendingMessages",
        options.maxPendingMessages ?? 64,
        1,
        2 ** 30,
      ),
      maxPendingBytes: _limit("maxPendingBytes", options.maxPendingBytes ?? 2 * _MiB, 1),
      maxRooms: _limit("maxRoomsPerSession", options.maxRoomsPerSession ?? 128, 1, Infinity),
      now,
      onRejectedMessage: hook(options.onRejectedMessage),
      counters: this.#counters,
      setTimeout: (fn, ms) => timers.setTimeout(fn, ms),
      clearTimeout: (id) => timers.clearTimeout(id),
      schedule: (session) => this.#schedule(session),
      defer: (session) => this.#defer(session),
      unschedule: (session) => this.#congested.delete(session),
      onMessage,
      onBinary,
      onDrop: hook(options.onDrop),
      onInvalidMessage: hook(options.onInvalidMessage),
      released: (session, lingering) => this.#released(session, lingering),
      gone: (session) => this.#gone(session),
      report: (error, session) => this.#report(error, session),
    };
  }

  /**
   * The request handler for `Deno.serve`: upgrades WebSocket requests that
   * pass the gate and the context factory, hands the rest to `fallback`.
   *
   * | request | response |
   * | --- | --- |
   * | not a WebSocket upgrade | `fallback`, else 426 |
   * | during `shutdown()` | 503 |
   * | no `Connection: Upgrade` or no `Sec-WebSocket-Key` | 400 |
   * | an `Origin` that `origins` does not allow | 403 |
   * | `maxSessions` reached | 503 |
   * | `maxSessionsPerClient` reached for the client's key | 429 |
   * | refused by the context factory | its `Response`, its `HttpError` status, else 401 |
   * | the context factory ran past `handshakeTimeout` | 503 |
   * | accepted | 101, then `onConnect` |
   *
   * @param request The HTTP request.
   * @param info The connection info `Deno.serve` passes.
   * @returns The response: a 101 upgrade or a refusal.
   */
  readonly fetch: (request: Request, info?: ServeInfo) => Promise<Response> = async (
    request,
    info = {},
  ) => {
    if (!_isUpgrade(request)) {
      return this.#options.fallback?.(request, info) ??
        new Response("Upgrade Required", { status: 426, headers: { upgrade: "websocket" } });
    }
    const handshake = await this.handshake(request, info);
    if (handshake instanceof Response) return handshake;
    const upgrade = this.#options.upgrade ?? upgradeWithDeno;
    let upgraded;
    try {
      upgraded = upgrade(request, {
        protocol: handshake.protocol,
        idleTimeout: this.#idleTimeout,
      });
    } catch (error) {
      this.abandon(handshake);
      this.#counters.rejected++;
      return new Response(`Bad WebSocket handshake: ${(error as Error)?.message ?? error}`, {
        status: 400,
      });
    }
    attachWebSocket(this, upgraded.socket, handshake);
    return upgraded.response;
  };

  /** Every session open or closing, by id. */
  get sessions(): ReadonlyMap<string, Session<Ctx, In, Out>> {
    return this.#sessions;
  }

  /** Every room with at least one member, to its members. */
  get rooms(): ReadonlyMap<string, ReadonlySet<Session<Ctx, In, Out>>> {
    return this.#host.rooms.map;
  }

  /** The limits this server enforces, for adapters. */
  get limits(): ServerLimits {
    return {
      maxMessageBytes: this.#host.maxMessageBytes,
      idleTimeout: this.#idleTimeout,
      highWaterMark: this.#host.highWaterMark,
    };
  }

  /** `true` once `shutdown()` was called: new upgrades get 503. */
  get shuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  /** A snapshot of the server-wide counters. */
  get stats(): ServerStats {
    return {
      ...this.#counters,
      sessions: this.#sessions.size,
      lingering: this.#lingering.size,
      rooms: this.#host.rooms.map.size,
    };
  }

  /**
   * Sends a message to every member of a room, encoding it once. Each copy
   * goes through its session's queue and overflow policy.
   *
   * @typeParam K The topic.
   * @param room The room.
   * @param topic The topic.
   * @param data The data.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   * @throws {TypeError} If `data` cannot be serialized.
   */
  publish<K extends keyof Out & string>(
    room: string,
    topic: K,
    data: Out[K],
    options?: PublishOptions,
  ): PublishResult {
    const members = this.#host.rooms.get(room);
    if (members === undefined) return _NOBODY;
    const text = encodeEnvelope(topic, data);
    return this.#deliver(members, { data: text, bytes: utf8Length(text) }, options);
  }

  /**
   * Sends bytes as a binary frame to every member of a room.
   *
   * @param room The room.
   * @param data The bytes; not copied, so do not change them afterwards.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   */
  publishBinary(
    room: string,
    data: Uint8Array<ArrayBuffer>,
    options?: PublishOptions,
  ): PublishResult {
    const members = this.#host.rooms.get(room);
    if (members === undefined) return _NOBODY;
    return this.#deliver(members, { data, bytes: data.byteLength }, options);
  }

  /**
   * Sends a message to the sessions given, encoding it once: for a user's
   * every tab, or any set that is not a room.
   *
   * @typeParam K The topic.
   * @param sessions The recipients.
   * @param topic The topic.
   * @param data The data.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   * @throws {TypeError} If `data` cannot be serialized.
   */
  sendTo<K extends keyof Out & string>(
    sessions: Iterable<Session<Ctx, In, Out>>,
    topic: K,
    data: Out[K],
    options?: PublishOptions,
  ): PublishResult {
    const text = encodeEnvelope(topic, data);
    return this.#deliver(sessions, { data: text, bytes: utf8Length(text) }, options);
  }

  /**
   * Sends a message to every session, encoding it once.
   *
   * @typeParam K The topic.
   * @param topic The topic.
   * @param data The data.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   * @throws {TypeError} If `data` cannot be serialized.
   */
  broadcast<K extends keyof Out & string>(
    topic: K,
    data: Out[K],
    options?: PublishOptions,
  ): PublishResult {
    if (this.#sessions.size === 0) return _NOBODY;
    const text = encodeEnvelope(topic, data);
    return this.#deliver(
      this.#sessions.values(),
      { data: text, bytes: utf8Length(text) },
      options,
    );
  }

  /**
   * Closes every session with 1001 and refuses new upgrades with 503.
   * Calling it again returns the same promise. It does not stop the HTTP
   * server: shut that down after.
   *
   * @param options The close code, reason and how long to wait.
   * @returns A promise that resolves once every session is closed, or once
   *   `timeout` passed and the rest were released.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    return this.#shutdown ??= this.#shutDown(options);
  }

  async #shutDown(
    { code = CloseCode.GOING_AWAY, reason = "Server shutting down", timeout = 5000 }:
      ShutdownOptions,
  ): Promise<void> {
    const sessions = [...this.#sessions.values()];
    for (const session of sessions) _driver.shutdown(session, code, reason);
    if (sessions.length > 0) {
      let timer: unknown;
      const expired = new Promise<void>((resolve) => {
        timer = this.#timers.setTimeout(resolve, timeout);
      });
      await Promise.race([Promise.all(sessions.map(_driver.whenClosed)), expired]);
      this.#timers.clearTimeout(timer);
      for (const session of sessions) _driver.forceClose(session);
    }
    this.#stopPolling();
  }

  /**
   * For adapters: runs the gate and the context factory on an upgrade
   * request. The Deno path (`fetch`) calls it; the Bun adapter calls it
   * before `server.upgrade()`.
   *
   * @param request The upgrade request.
   * @param info The connection info.
   * @returns A `Response` that refuses the upgrade, or the accepted handshake.
   */
  async handshake(request: Request, info: ServeInfo = {}): Promise<Response | Handshake<Ctx>> {
    if (this.#shutdown !== undefined) return this.#refuse(503, "Server is shutting down");
    const broken = _brokenHandshake(request);
    if (broken !== undefined) return this.#refuse(400, `Bad WebSocket handshake: ${broken}`);
    const origin = request.headers.get("origin");
    if (!this.#originAllowed(origin, request)) {
      return this.#refuse(403, `Origin not allowed: ${origin ?? "(none)"}`);
    }
    if (this.#admitted >= this.#maxSessions) return this.#refuse(503, "Too many sessions");
    const key = this.#clientKey(request, info);
    const held = this.#perClient.get(key) ?? 0;
    if (held >= this.#maxPerClient) return this.#refuse(429, "Too many sessions from this client");
    // Admitted now, so that concurrent handshakes cannot all pass the caps.
    this.#admitted++;
    this.#perClient.set(key, held + 1);
    const ticket = new _Ticket<Ctx>(key);
    let ctx: Ctx | Response;
    try {
      ctx = await this.#runContext(request, info);
    } catch (error) {
      this.#unadmit(ticket);
      if (error instanceof HttpError) return this.#refuse(error.status, error.message);
      if (error === _TIMED_OUT) return this.#refuse(503, "The context factory timed out");
      return this.#refuse(401, "Unauthorized");
    }
    if (ctx instanceof Response) {
      this.#unadmit(ticket);
      this.#counters.rejected++;
      return ctx;
    }
    if (this.#shutdown !== undefined) {
      this.#unadmit(ticket);
      return this.#refuse(503, "Server is shutting down");
    }
    ticket.ctx = ctx;
    ticket.protocol = this.#chooseProtocol(request);
    return ticket;
  }

  /**
   * For adapters: gives back a handshake whose socket never opened (the
   * upgrade failed, or the client left before `open`), so that it stops
   * counting toward the session caps. Idempotent.
   *
   * @param handshake What {@linkcode Server.handshake} accepted.
   */
  abandon(handshake: Handshake<Ctx>): void {
    if (handshake instanceof _Ticket) this.#unadmit(handshake);
  }

  #runContext(request: Request, info: ServeInfo): Ctx | Response | Promise<Ctx | Response> {
    const factory = this.#options.context;
    if (factory === undefined) return undefined as Ctx;
    const result = factory(request, info);
    if (!(result instanceof Promise)) return result;
    let timer: unknown;
    const expired = new Promise<never>((_, reject) => {
      timer = this.#timers.setTimeout(() => reject(_TIMED_OUT), this.#handshakeTimeout);
    });
    return Promise.race([result, expired]).finally(() => this.#timers.clearTimeout(timer));
  }

  #originAllowed(origin: string | null, request: Request): boolean {
    const allowed = this.#origins;
    if (allowed === "*") return true;
    if (origin === null) return this.#options.allowMissingOrigin ?? true;
    const normal = _normalOrigin(origin);
    if (normal === undefined) return false; // "null", or not a URL
    if (allowed === "same-host") {
      const host = request.headers.get("host")?.toLowerCase();
      if (host === undefined) return false;
      const { host: originHost, protocol } = new URL(normal);
      const defaultPort = protocol === "https:" ? ":443" : ":80";
      return originHost === host ||
        (host.endsWith(defaultPort) && originHost === host.slice(0, -defaultPort.length));
    }
    return allowed.has(normal);
  }

  #unadmit(ticket: _Ticket<Ctx>): void {
    if (ticket.released) return;
    ticket.released = true;
    this.#release(ticket.key);
  }

  #release(key: string): void {
    this.#admitted--;
    const held = this.#perClient.get(key)! - 1;
    if (held === 0) this.#perClient.delete(key);
    else this.#perClient.set(key, held);
  }

  /**
   * For adapters: makes the session of a socket that just opened, and
   * calls `onConnect`. If the server is shutting down, the session is
   * closed at once with the shutdown code.
   *
   * @param socket The open socket.
   * @param handshake What {@linkcode Server.handshake} accepted.
   * @param options Whether the adapter reports drains.
   * @returns The connection the adapter reports the socket's events to.
   */
  open(
    socket: Socket,
    handshake: Handshake<Ctx>,
    options: OpenOptions = {},
  ): Connection<Ctx, In, Out> {
    return new _Connection(this.#open(socket, handshake, options));
  }

  #open(socket: Socket, handshake: Handshake<Ctx>, options: OpenOptions): Session<Ctx, In, Out> {
    let id = this.#options.generateId?.() ?? crypto.randomUUID();
    if (this.#sessions.has(id)) {
      this.#report(
        new Error(`generateId() returned "${id}", already in use: using a UUID`),
        undefined,
      );
      id = crypto.randomUUID();
    }
    const session = _driver.create(
      this.#host,
      socket,
      id,
      handshake.ctx,
      options.drains ?? false,
      handshake.protocol === BATCH_PROTOCOL,
      this.#transfer(handshake),
    );
    this.#sessions.set(id, session);
    this.#counters.opened++;
    if (this.#shutdown !== undefined) {
      _driver.shutdown(session, CloseCode.GOING_AWAY, "Server shutting down");
    } else if (this.#options.onConnect !== undefined) {
      this.#call(this.#options.onConnect, [session]);
    }
    return session;
  }

  /** The admission of an opening handshake passes to its session, as its client key. */
  #transfer(handshake: Handshake<Ctx>): string | undefined {
    if (!(handshake instanceof _Ticket) || handshake.released) return undefined;
    handshake.released = true;
    return handshake.key;
  }

  static {
    _openSession = (server, socket, handshake, options) => server.#open(socket, handshake, options);
  }

  #deliver(
    members: Iterable<Session<Ctx, In, Out>>,
    frame: Frame,
    options: PublishOptions | undefined,
  ): PublishResult {
    const except = options?.except;
    const skip = except === undefined
      ? undefined
      : Symbol.iterator in except
      ? new Set(except)
      : new Set([except]);
    let recipients = 0, sent = 0, queued = 0, dropped = 0, closed = 0;
    for (const session of members) {
      if (skip?.has(session)) continue;
      recipients++;
      const result: SendResult = _driver.offer(session, frame);
      if (result === "sent") sent++;
      else if (result === "queued") queued++;
      else if (result === "dropped") dropped++;
      else closed++;
    }
    return { recipients, sent, queued, dropped, closed };
  }

  #refuse(status: number, message: string): Response {
    this.#counters.rejected++;
    return new Response(message, { status });
  }

  #chooseProtocol(request: Request): string | undefined {
    const offered = request.headers.get("sec-websocket-protocol");
    if (offered === null) return undefined;
    const names = offered.split(",").map((name) => name.trim());
    return this.#protocols.find((name) => names.includes(name)) ??
      (this.#batch && names.includes(BATCH_PROTOCOL) ? BATCH_PROTOCOL : undefined);
  }

  /** Queues a session's coalesced frames to be written at the end of this tick. */
  #defer(session: Session<Ctx, In, Out>): void {
    this.#deferred.push(session);
    if (this.#deferred.length === 1) queueMicrotask(this.#writeDeferred);
  }

  readonly #writeDeferred = (): void => {
    const sessions = this.#deferred;
    this.#deferred = this.#spare; // frames deferred while writing go to the next round
    for (let i = 0; i < sessions.length; i++) _driver.flushPending(sessions[i]);
    sessions.length = 0;
    this.#spare = sessions;
  };

  #schedule(session: Session<Ctx, In, Out>): void {
    this.#congested.add(session);
    this.#pollTimer ??= this.#timers.setTimeout(this.#poll, _DRAIN_POLL_MS);
  }

  readonly #poll = (): void => {
    this.#pollTimer = undefined;
    for (const session of this.#congested) {
      if (_driver.flush(session)) this.#congested.delete(session);
    }
    if (this.#congested.size > 0) {
      this.#pollTimer = this.#timers.setTimeout(this.#poll, _DRAIN_POLL_MS);
    }
  };

  #stopPolling(): void {
    if (this.#pollTimer !== undefined) this.#timers.clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#congested.clear();
  }

  #released(session: Session<Ctx, In, Out>, lingering: boolean): void {
    this.#sessions.delete(session.id);
    if (lingering) this.#lingering.add(session);
    else this.#gone(session);
    this.#congested.delete(session);
    if (this.#congested.size === 0 && this.#pollTimer !== undefined) this.#stopPolling();
    this.#counters.closed++;
    if (this.#options.onClose !== undefined) {
      this.#call(this.#options.onClose, [session, session.closeCause!]);
    }
  }

  /** The session's connection is closed: its admission goes back to the caps. */
  #gone(session: Session<Ctx, In, Out>): void {
    this.#lingering.delete(session);
    const key = _driver.admission(session);
    if (typeof key === "string") this.#release(key);
  }

  // deno-lint-ignore no-explicit-any
  #call(fn: (...args: any[]) => unknown, args: unknown[]): void {
    try {
      const result = fn(...args);
      if (result instanceof Promise) {
        result.catch((error) => this.#report(error, args[0] as Session<Ctx, In, Out>));
      }
    } catch (error) {
      this.#report(error, args[0] as Session<Ctx, In, Out>);
    }
  }

  #report(error: unknown, session: Session<Ctx, In, Out> | undefined): void {
    const onError = this.#options.onError;
    if (onError === undefined) {
      console.error("switchboard: a hook failed", error);
      return;
    }
    try {
      onError(error, session);
    } catch (again) {
      console.error("switchboard: onError failed", again, "while reporting", error);
    }
  }
}

class _Connection<Ctx, In extends object, Out extends object> implements Connection<Ctx, In, Out> {
  readonly session: Session<Ctx, In, Out>;

  constructor(session: Session<Ctx, In, Out>) {
    this.session = session;
  }

  message(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void {
    _driver.receive(this.session, data);
  }

  error(error: unknown): void {
    _driver.error(this.session, error);
  }

  drain(): void {
    _driver.flush(this.session);
  }

  close(code: number, reason: string, kind?: CloseCause["kind"]): void {
    _driver.closed(this.session, code, reason, kind);
  }
}

const _NOBODY: PublishResult = Object.freeze({
  recipients: 0,
  sent: 0,
  queued: 0,
  dropped: 0,
  closed: 0,
});

function _noop(): void {}

function _isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** What `Deno.upgradeWebSocket` checks, checked here so both runtimes answer alike. */
function _brokenHandshake(request: Request): string | undefined {
  const connection = request.headers.get("connection");
  if (!connection?.split(",").some((option) => option.trim().toLowerCase() === "upgrade")) {
    return "the 'connection' header must contain 'Upgrade'";
  }
  if (!request.headers.get("sec-websocket-key")) {
    return "the 'sec-websocket-key' header must be set";
  }
  return undefined;
}

function _limit(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === Infinity && max === Infinity) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Invalid option "${name}": expected an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

function _positive(name: string, value: number): number {
  if (typeof value !== "number" || !(value > 0) || value === Infinity) {
    throw new RangeError(`Invalid option "${name}": expected a positive number, got ${value}`);
  }
  return value;
}

/** The origin of a URL, lower-cased and without a default port; `undefined` if none. */
function _normalOrigin(origin: string): string | undefined {
  try {
    const normal = new URL(origin).origin;
    return normal === "null" ? undefined : normal;
  } catch {
    return undefined;
  }
}

/** Rejects a context factory that ran past `handshakeTimeout`. */
const _TIMED_OUT: unique symbol = Symbol("timed out");

/** An accepted handshake: the context, and the admission it holds until released. */
class _Ticket<Ctx> implements Handshake<Ctx> {
  ctx!: Ctx;
  protocol: string | undefined;
  readonly key: string;
  released = false;

  constructor(key: string) {
    this.key = key;
  }
}

const _POLICIES: readonly OverflowPolicy[] = ["close", "drop-oldest", "drop-newest"];
const _INVALID: readonly ("reply" | "close" | "ignore")[] = ["reply", "close", "ignore"];

function _oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): T {
  if (allowed.includes(value)) return value;
  throw new RangeError(
    `Invalid option "${name}": expected one of ${
      allowed.map((a) => `"${a}"`).join(", ")
    }, got "${value}"`,
  );
}
