import type { Contract } from "../src/contract.ts";

/**
 * The state of a client.
 *
 * - `"connecting"`: the first attempt is under way.
 * - `"open"`: connected (for a protocol session: the server's `$hello` arrived).
 * - `"reconnecting"`: the connection was lost or an attempt failed; the
 *   next attempt is waiting for its backoff delay or under way.
 * - `"closed"`: for good: `close()` was called, the server closed with a
 *   code from 4000 to 4099, or the retries ran out. See {@linkcode ClosedEvent}.
 *
 * @example Usage
 * ```ts ignore
 * if (client.state !== "open") showOfflineBadge();
 * ```
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * What happened to one outgoing message.
 *
 * - `"sent"`: handed to the socket.
 * - `"queued"`: held in the offline queue until the client is connected.
 * - `"dropped"`: not sent and never will be: the queue was full
 *   (`overflow: "drop-newest"`); counted and reported as a `drop` event.
 * - `"closed"`: the client is closed; nothing was sent.
 *
 * @example Usage
 * ```ts ignore
 * if (client.send("say", "hi") === "dropped") showToast("Not sent: too much waiting while offline");
 * ```
 */
export type SendResult = "sent" | "queued" | "dropped" | "closed";

/**
 * A `WebSocket` constructor: the global one, or a stand-in with the same shape.
 *
 * @example Usage
 * ```ts ignore
 * import { connect } from "@switchboard/ws/client";
 * import { WebSocket } from "npm:ws"; // any constructor with the standard shape
 *
 * const client = connect("ws://127.0.0.1:8000/", { WebSocket });
 * ```
 */
export interface WebSocketConstructor {
  /** Opens a socket. */
  new (url: string, protocols?: string | string[]): ClientSocket;
}

/**
 * The part of a `WebSocket` the client uses.
 *
 * @example Usage
 * ```ts ignore
 * import { connect, type ClientSocket } from "@switchboard/ws/client";
 *
 * // A stand-in for tests: the test fires its events.
 * class FakeSocket implements ClientSocket {
 *   readyState = 0;
 *   protocol = "";
 *   binaryType = "blob";
 *   onopen = null;
 *   onmessage = null;
 *   onclose = null;
 *   onerror = null;
 *   send(_data: string) {}
 *   close() {}
 * }
 * const client = connect("ws://test/", { WebSocket: FakeSocket });
 * ```
 */
export interface ClientSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** The subprotocol the server chose, `""` if none. */
  readonly protocol: string;
  /** Set to `"arraybuffer"` by the client. */
  binaryType: string;
  /** Sends a text frame. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  // The handlers are typed as methods are (their parameters bivariant), so
  // that the platform's `WebSocket`, whose handlers take its own event
  // types (`Event`, `MessageEvent`, `CloseEvent`), fits.
  /** Set by the client. */
  onopen: { handler(event: unknown): void }["handler"] | null;
  /** Set by the client. */
  onmessage: { handler(event: { data: unknown }): void }["handler"] | null;
  /** Set by the client. */
  onclose: { handler(event: { code: number; reason: string }): void }["handler"] | null;
  /** Set by the client. */
  onerror: { handler(event: unknown): void }["handler"] | null;
}

/**
 * Where the client hears that the network came back (`online`) or went
 * away (`offline`): the browser's `window` and `navigator.onLine` by default.
 *
 * @example Usage
 * ```ts ignore
 * import { connect } from "@switchboard/ws/client";
 *
 * const network = new EventTarget() as EventTarget & { onLine?: boolean };
 * const client = connect("ws://127.0.0.1:8000/", { network });
 * network.dispatchEvent(new Event("online")); // a waiting retry comes early
 * ```
 */
export interface NetworkEvents {
  /** `false` if the device is known to be offline. */
  readonly onLine?: boolean;
  /** Adds a listener of `online` or `offline`. */
  addEventListener(type: "online" | "offline", listener: () => void): void;
  /** Removes it. */
  removeEventListener(type: "online" | "offline", listener: () => void): void;
}

/**
 * Query parameters added to the URL of every attempt.
 *
 * @example Usage
 * ```ts ignore
 * const client = connect(url, { params: { room: "lobby", v: 2 } }); // ?room=lobby&v=2
 * const fresh = connect(url, { params: async () => ({ token: await getToken() }) });
 * ```
 */
export type Params = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * How the client reconnects.
 *
 * @example Usage
 * ```ts ignore
 * const client = connect(url, {
 *   reconnect: { base: 1_000, cap: 60_000, resetAfter: 10_000, maxFailedAttempts: Infinity },
 * });
 * ```
 */
export interface ReconnectOptions {
  /**
   * The first delay's upper bound, in ms: attempt `n` (from 0) waits
   * `random(0, min(cap, base * 2 ** n))` (full jitter).
   * @default {500}
   */
  base?: number;
  /**
   * The largest delay's upper bound, in ms.
   * @default {20_000}
   */
  cap?: number;
  /**
   * How long a connection must stay open, in ms, before `n` goes back to 0.
   * @default {5_000}
   */
  resetAfter?: number;
  /**
   * Consecutive attempts, made while online, that never opened (a refused
   * upgrade, an unreachable server: browsers report both as 1006) after
   * which the client gives up and closes (`cause: "retries"`). `Infinity`
   * retries forever. With the other defaults, 20 attempts span about 2.5
   * minutes.
   * @default {20}
   */
  maxFailedAttempts?: number;
}

/**
 * Options of `connect()`. Every bound has a safe default.
 *
 * @typeParam In Each client topic's data, set by `contract`.
 * @typeParam Out Each server topic's data, set by `contract`.
 * @typeParam Req Each request's input and output, set by `contract`.
 *
 * @example Usage
 * ```ts ignore
 * import { connect } from "@switchboard/ws/client";
 *
 * const client = connect("wss://app.example.com/ws", {
 *   contract, // shared with the server
 *   params: async () => ({ token: await getToken() }), // before every attempt
 *   batch: true, // fewer frames from a busy server
 *   reconnect: { base: 1_000, cap: 30_000, maxFailedAttempts: Infinity },
 *   maxQueueMessages: 1_000,
 *   overflow: "drop-oldest", // keep the latest while offline
 *   requestTimeout: 5_000,
 * });
 * ```
 */
export interface ClientOptions<
  In extends object,
  Out extends object,
  Req extends Record<string, { input: unknown; output: unknown }>,
> {
  /** The contract shared with the server: types `send`, `on` and `request`, and checks data. */
  contract?: Contract<In, Out, Req>;
  /**
   * Query parameters added to the URL, or a function called before every
   * attempt (sync or async) for fresh tokens. A throw or rejection counts
   * as a failed attempt.
   */
  params?: Params | (() => Params | Promise<Params>);
  /** Subprotocols offered after the client's own (`switchboard.v1`). */
  protocols?: string[];
  /**
   * Offer `switchboard.v1`: the server's `$hello`, heartbeats (liveness)
   * and rooms (`join` / `leave`, resume). `false` makes a plain client,
   * for a server whose `protocol` option is off: browsers and Bun fail a
   * connection whose server picks none of the subprotocols offered.
   * @default {true}
   */
  protocol?: boolean;
  /**
   * Offer `switchboard.v1.batch` (`switchboard.batch` with `protocol:
   * false`): the server may send a tick's messages in one frame. It is
   * offered before `switchboard.v1`, which is offered too, so that a server
   * with its `batch` option off still picks v1.
   * @default {false}
   */
  batch?: boolean;
  /**
   * Check each client message and request input against the contract before
   * it is sent: an unknown topic or invalid data throws a `TypeError` at
   * the call site. Schemas must be synchronous.
   * @default {true}
   */
  validateOutbound?: boolean;
  /**
   * Check each server message and request output against the contract; an
   * invalid message is counted (`stats.invalid`), reported as an `invalid`
   * event and not delivered; an invalid output rejects the request with a
   * `TypeError`. Handlers get the data as received. Schemas must be synchronous.
   * @default {false}
   */
  validateInbound?: boolean;
  /** Backoff and retry bounds, or `false` never to reconnect. */
  reconnect?: ReconnectOptions | false;
  /**
   * How long an attempt may take, in ms, up to the server's `$hello`
   * (`params` included).
   * @default {5_000}
   */
  connectTimeout?: number;
  /**
   * How long past the server's heartbeat interval the client waits for a
   * frame before it treats the connection as dead, in ms.
   * @default {half the interval, at least 2_000}
   */
  heartbeatGrace?: number;
  /**
   * The offline queue's bound in messages (requests included).
   * @default {256}
   */
  maxQueueMessages?: number;
  /**
   * The offline queue's bound in UTF-8 bytes.
   * @default {1_048_576}
   */
  maxQueueBytes?: number;
  /**
   * What a full queue drops: the new message (`send` returns `"dropped"`) or
   * the oldest one. Either way: counted and reported as a `drop` event; a
   * dropped request rejects with `RequestDroppedError`.
   * @default {"drop-newest"}
   */
  overflow?: "drop-newest" | "drop-oldest";
  /**
   * A request's timeout in ms, waiting in the queue included.
   * @default {10_000}
   */
  requestTimeout?: number;
  /**
   * How long `close()` waits for the closing handshake, in ms.
   * @default {5_000}
   */
  closeTimeout?: number;
  /** The `WebSocket` constructor. @default {globalThis.WebSocket} */
  WebSocket?: WebSocketConstructor;
  /** The timer functions, for tests that drive time by hand; every field is optional. */
  timers?: {
    /** Like `globalThis.setTimeout`. */
    setTimeout?(fn: () => void, ms: number): unknown;
    /** Like `globalThis.clearTimeout`. */
    clearTimeout?(id: unknown): void;
    /** Milliseconds on a monotonic clock, like `performance.now`. */
    now?(): number;
  };
  /** A number in [0, 1): the backoff's jitter. @default {Math.random} */
  random?: () => number;
  /**
   * The source of `online` and `offline` events, or `null` for none.
   * @default {globalThis, if it has `addEventListener`, with `navigator.onLine`}
   */
  network?: NetworkEvents | null;
}

/**
 * What the client counts. Every drop, timeout and loss is here.
 *
 * @example Usage
 * ```ts ignore
 * const { dropped, timedOut, gaps, queued } = client.stats;
 * metrics.gauge("ws.queued", queued);
 * ```
 */
export interface ClientStats {
  /** Messages and requests handed to a socket. */
  sent: number;
  /** Envelopes received (a batch frame counts each). */
  received: number;
  /** Messages and requests waiting in the offline queue now. */
  queued: number;
  /** Their UTF-8 bytes. */
  queuedBytes: number;
  /** Messages and requests dropped by the queue (see the `drop` event). */
  dropped: number;
  /** Their bytes. */
  droppedBytes: number;
  /** Frames that could not be decoded and messages the contract refused (`invalid` event). */
  invalid: number;
  /** `$error` messages: the server refused one of the client's messages (`rejected` event). */
  rejected: number;
  /** Messages on a topic without a handler. */
  unhandled: number;
  /** Room messages dropped as already delivered (`seq` not above the last). */
  duplicates: number;
  /** Gaps seen in a room's sequence (`gap` event). */
  gaps: number;
  /** Messages the gaps skipped. */
  missed: number;
  /** Requests that timed out. */
  timedOut: number;
  /** Requests in flight when a connection dropped (`ConnectionLostError`). */
  lost: number;
  /** Connection attempts. */
  attempts: number;
  /** Connections opened. */
  opened: number;
}

/**
 * The server's answer to {@linkcode Client.join}.
 *
 * @example Usage
 * ```ts ignore
 * const { joined, seq, epoch } = await client.join("lobby");
 * ```
 */
export interface JoinResult {
  /** The room. */
  readonly room: string;
  /** `false` if the session was in the room already. */
  readonly joined: boolean;
  /** The room's position now (servers with history). */
  readonly seq?: number;
  /** The room's epoch now (servers with history). */
  readonly epoch?: string;
  /** On a re-join with `since`: whether every message missed was delivered. */
  readonly recovered?: boolean;
  /** With `recovered: false`: why (`"epoch"`, `"gap"`). */
  readonly reason?: string;
}

/**
 * The server's answer to {@linkcode Client.leave}.
 *
 * @example Usage
 * ```ts ignore
 * const { left } = await client.leave("lobby");
 * ```
 */
export interface LeaveResult {
  /** The room. */
  readonly room: string;
  /** `false` if the session was not in the room. */
  readonly left: boolean;
}
