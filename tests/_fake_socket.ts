/**
 * The unit tests' one family of fixtures: in-memory stand-ins for the
 * runtime. A {@linkcode FakeSocket} (the `Socket` an adapter fills),
 * {@linkcode openSession} that opens a session on a `Server` with it through
 * the server's own doors (`handshake()` then `open()`), a
 * {@linkcode FakeTimers} for the server's `timers` option, a
 * {@linkcode FakeWebSocket} for `fetch` with an injected `upgrade`,
 * {@linkcode upgradeRequest}, {@linkcode endOfTick} and
 * {@linkcode envelopeBytes}; for the Bun adapter, a {@linkcode FakeBun}
 * and its {@linkcode FakeBunSocket}. {@linkcode setup} builds the server
 * most unit tests use (fake timers, a fake upgrade, every hook recorded)
 * and {@linkcode setupBun} the same behind the Bun adapter.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { AdapterServer, Connection, Upgrade } from "../src/adapter.ts";
import {
  bunAdapter,
  type BunServeOptions,
  type BunServer,
  type BunServerWebSocket,
  type BunSocketAddress,
} from "../src/adapters/bun.ts";
import type { EnvelopeError } from "../src/errors.ts";
import { Handshake } from "../src/handshake.ts";
import type { Refusal, ServeInfo, ServerOptions, Timers } from "../src/options.ts";
import { Server } from "../src/server.ts";
import type { CloseCause, DropInfo, Session } from "../src/session.ts";
import type { Socket } from "../src/socket.ts";
import type { EventMap, Message } from "../src/topics.ts";

/**
 * How a {@linkcode FakeSocket} reports its own `close()` back to the session:
 *
 * - `"sync"`: at once, inside `close()`, like Bun.
 * - `"manual"`: when the test calls {@linkcode FakeSocket.completeClose}, like
 *   Deno after the peer's close frame arrives (or never, if the test does not).
 */
export type CloseReport = "sync" | "manual";

/** One call of {@linkcode FakeSocket.close}. */
export interface CloseCall {
  /** The code given, if any. */
  readonly code: number | undefined;
  /** The reason given, if any. */
  readonly reason: string | undefined;
}

/** Options of {@linkcode FakeSocket}. */
export interface FakeSocketOptions {
  /**
   * How `close()` is reported back.
   * @default {"manual"}
   */
  closeReport?: CloseReport;
  /**
   * What `send()` returns (Bun returns 0 for a dropped frame).
   * @default {undefined}
   */
  sendStatus?: number;
}

/**
 * An in-memory {@linkcode Socket}: the test sets `bufferedAmount`, reads the
 * frames in `sent` and the calls in `closes`.
 */
export class FakeSocket implements Socket {
  /** 1 while open, 2 after `close()`, 3 once the close is reported. */
  readyState = 1;
  /** Set by the test to simulate backpressure. */
  bufferedAmount = 0;
  /** Every frame handed to `send()`, in order. */
  readonly sent: (string | Uint8Array<ArrayBuffer>)[] = [];
  /** Every call of `close()`, in order. */
  readonly closes: CloseCall[] = [];
  /** What `send()` returns. */
  sendStatus: number | undefined;
  /**
   * Called after each frame is recorded, e.g. to raise `bufferedAmount` as a
   * socket that nobody reads would.
   */
  onSend: ((data: string | Uint8Array<ArrayBuffer>) => void) | undefined;
  /** How `close()` is reported back. */
  closeReport: CloseReport;
  /** Where the close is reported; set by {@linkcode openSession}. */
  // deno-lint-ignore no-explicit-any
  connection: Connection<any, any, any> | undefined;

  /**
   * Creates an open socket with nothing buffered.
   *
   * @param options How the close is reported and what `send()` returns.
   */
  constructor(options: FakeSocketOptions = {}) {
    this.closeReport = options.closeReport ?? "manual";
    this.sendStatus = options.sendStatus;
  }

  /**
   * Records a frame.
   *
   * @param data The frame.
   * @returns `sendStatus`.
   */
  send(data: string | Uint8Array<ArrayBuffer>): number | void {
    this.sent.push(data);
    this.onSend?.(data);
    return this.sendStatus;
  }

  /**
   * Records the call; reports it back at once under `closeReport: "sync"`.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  close(code?: number, reason?: string): void {
    this.closes.push({ code, reason });
    if (this.readyState === 1) this.readyState = 2;
    if (this.closeReport === "sync") this.completeClose();
  }

  /**
   * Reports the close to the connection, as the runtime does once the
   * handshake is over: with the code and reason of the first `close()` call
   * unless others are given.
   *
   * @param code The code to report.
   * @param reason The reason to report.
   */
  completeClose(code?: number, reason?: string): void {
    const first = this.closes[0];
    this.readyState = 3;
    this.connection?.close(code ?? first?.code ?? 1005, reason ?? first?.reason ?? "");
  }

  /**
   * The text frames, parsed as JSON.
   *
   * @returns Each text frame's value, in order; binary frames are skipped.
   */
  texts(): unknown[] {
    return this.sent.filter((frame) => typeof frame === "string").map((frame) =>
      JSON.parse(frame as string)
    );
  }

  /**
   * The `data` of each text frame, for frames that are envelopes.
   *
   * @returns Each envelope's data, in order.
   */
  data(): unknown[] {
    return this.texts().map((value) => (value as { data?: unknown }).data);
  }
}

/** What {@linkcode openSession} returns. */
export interface Opened<Ctx, In extends object, Out extends object> {
  /** The fake socket under the session. */
  readonly socket: FakeSocket;
  /** The runtime's side: report messages, errors, drains and the close here. */
  readonly connection: Connection<Ctx, In, Out>;
  /** The session. */
  readonly session: Session<Ctx, In, Out>;
}

/** Options of {@linkcode openSession}. */
export interface OpenSessionOptions extends FakeSocketOptions {
  /**
   * Whether the test reports drains (`connection.drain()`); otherwise the
   * server's drain scheduler polls.
   * @default {true}
   */
  drains?: boolean;
  /** Whether the adapter says the socket's buffer grows only by what is sent (`OpenOptions`). */
  sendsOnly?: boolean;
  /** A socket to use instead of a new one. */
  socket?: FakeSocket;
  /** The subprotocol the client offers, e.g. `BATCH_PROTOCOL`. */
  protocol?: string;
  /** The upgrade request the gate and the context factory see. */
  request?: Request;
}

/**
 * Opens a session on a server over a new {@linkcode FakeSocket}, the way
 * an adapter does: the gate and the context factory run on an upgrade
 * request (`server.handshake()`), then `server.open()`; the socket is
 * wired so that it can report its close back.
 *
 * @typeParam Ctx The server's context type.
 * @typeParam In The inbound event map.
 * @typeParam Out The outbound event map.
 * @param server The server.
 * @param options The request, drains, and the socket's options.
 * @returns The socket, the connection and the session.
 * @throws {Error} If the gate refused the request.
 */
export async function openSession<Ctx, In extends object, Out extends object>(
  server: AdapterServer<Ctx, In, Out>,
  options: OpenSessionOptions = {},
): Promise<Opened<Ctx, In, Out>> {
  const request = options.request ?? upgradeRequest(
    "http://127.0.0.1/ws",
    options.protocol === undefined ? {} : { "sec-websocket-protocol": options.protocol },
  );
  const handshake = await server.handshake(request, { remoteAddr: { hostname: "127.0.0.1" } });
  if (handshake instanceof Response) {
    throw new Error(`The gate refused the test's session: ${handshake.status}`);
  }
  const socket = options.socket ?? new FakeSocket(options);
  const connection = server.open(socket, handshake, {
    drains: options.drains ?? true,
    sendsOnly: options.sendsOnly ?? false,
  });
  socket.connection = connection;
  return { socket, connection, session: connection.session };
}

/**
 * Resolves after the microtasks queued so far: the end of the tick's
 * coalesced writes.
 *
 * @returns A promise that resolves at the end of this tick.
 */
export function endOfTick(): Promise<void> {
  return new Promise((resolve) => queueMicrotask(resolve));
}

interface _Timer {
  readonly id: number;
  readonly at: number;
  readonly ms: number;
  readonly fn: () => void;
}

/**
 * A {@linkcode Timers} driven by hand: nothing runs until {@linkcode FakeTimers.tick}.
 * Its methods are bound, so it works however the server calls them.
 */
export class FakeTimers implements Required<Omit<Timers, "setImmediate">> {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, _Timer>();

  /** The fake time in milliseconds; moves only with {@linkcode FakeTimers.tick}. */
  readonly now = (): number => this.#now;

  /** The number of timers set and not yet run or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * The delays the pending timers were set with, in the order they were set.
   *
   * @returns The delays in milliseconds.
   */
  delays(): number[] {
    return [...this.#timers.values()].map((timer) => timer.ms);
  }

  /** Like `globalThis.setTimeout`. */
  readonly setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), ms, fn });
    return id;
  };

  /** Like `globalThis.clearTimeout`. */
  readonly clearTimeout = (id: unknown): void => {
    this.#timers.delete(id as number);
  };

  /**
   * Advances the fake time, running every timer that falls due, in order of
   * due time (timers set while running are run too if they fall due).
   *
   * @param ms How far to advance.
   * @returns How many timers ran.
   */
  tick(ms: number): number {
    const end = this.#now + ms;
    let ran = 0;
    for (;;) {
      let next: _Timer | undefined;
      for (const timer of this.#timers.values()) {
        if (timer.at <= end && (next === undefined || timer.at < next.at)) next = timer;
      }
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = next.at;
      next.fn();
      ran++;
    }
    this.#now = end;
    return ran;
  }
}

/**
 * A server-side `WebSocket` stand-in for `fetch` with an injected
 * `upgrade`: an `EventTarget` the test makes fire `open`, `message`,
 * `error` and `close`.
 */
export class FakeWebSocket extends EventTarget {
  /** Set by the server. */
  binaryType: BinaryType = "blob";
  /** As `WebSocket.readyState`. */
  readyState = 0;
  /** Set by the test. */
  bufferedAmount = 0;
  /** Every frame sent. */
  readonly sent: (string | Uint8Array<ArrayBuffer>)[] = [];
  /** Every call of `close()`. */
  readonly closes: CloseCall[] = [];

  /**
   * Records a frame.
   *
   * @param data The frame.
   */
  send(data: string | Uint8Array<ArrayBuffer>): void {
    this.sent.push(data);
  }

  /**
   * Records the call; the test fires `close` with {@linkcode FakeWebSocket.fireClose}.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  close(code?: number, reason?: string): void {
    this.closes.push({ code, reason });
    if (this.readyState < 2) this.readyState = 2;
  }

  /** Fires `open`. */
  fireOpen(): void {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }

  /**
   * Fires `message`.
   *
   * @param data The message's data.
   */
  fireMessage(data: string | ArrayBuffer): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /**
   * Fires `error` as Deno does, with a message and no `error`.
   *
   * @param message The error's message.
   */
  fireError(message: string): void {
    this.dispatchEvent(new ErrorEvent("error", { message }));
  }

  /**
   * Fires `close`.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  fireClose(code: number, reason = "", wasClean = true): void {
    this.readyState = 3;
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
  }
}

/** One call of a {@linkcode FakeUpgrade}. */
export interface UpgradeCall {
  /** The request. */
  readonly request: Request;
  /** The options the server passed. */
  readonly options: { protocol?: string; idleTimeout: number };
  /** The socket returned. */
  readonly socket: FakeWebSocket;
  /** The response returned. */
  readonly response: Response;
}

/** An injectable `upgrade` that records its calls. */
export interface FakeUpgrade {
  /** The function to pass as the `upgrade` option. */
  readonly upgrade: Upgrade;
  /** Every call, in order. */
  readonly calls: UpgradeCall[];
}

/**
 * Makes an `upgrade` option that answers 101 with a new {@linkcode FakeWebSocket}.
 *
 * @returns The function and its recorded calls.
 */
export function fakeUpgrade(): FakeUpgrade {
  const calls: UpgradeCall[] = [];
  const upgrade: Upgrade = (request, options) => {
    const socket = new FakeWebSocket();
    const response = new Response(null, { status: 101 });
    calls.push({ request, options, socket, response });
    return { response, socket: socket as unknown as WebSocket };
  };
  return { upgrade, calls };
}

/**
 * Makes a WebSocket upgrade request.
 *
 * @param url The URL.
 * @param headers More headers.
 * @returns The request.
 */
export function upgradeRequest(
  url = "http://127.0.0.1/ws",
  headers: Record<string, string> = {},
): Request {
  return new Request(url, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...headers,
    },
  });
}

/**
 * What `Deno.serve` passes as `info`: a client with an address, so the
 * per-client cap applies under the default client key.
 */
export const CLIENT: ServeInfo = { remoteAddr: { hostname: "10.0.0.1" } };

/** One call of `onError`. */
export interface Reported {
  /** The error. */
  readonly error: unknown;
  /** The session it concerns, if any. */
  readonly session: unknown;
  /** The request it concerns, before the upgrade. */
  readonly request: Request | undefined;
}

/**
 * What a server's hooks were called with, one list a hook, in call order.
 * The session a hook is given is left out, but for `onConnect`, where it
 * is all there is.
 *
 * @typeParam Ctx The server's context type.
 */
export interface Recorded<Ctx> {
  /** Every `onError` call. */
  readonly errors: Reported[];
  /** Every `onRefuse` call, as `[request, refusal]`. */
  readonly refusals: [Request, Refusal][];
  /** The session of every `onConnect` call. */
  readonly connects: Session<Ctx, EventMap, EventMap>[];
  /** The cause of every `onClose` call. */
  readonly closes: CloseCause[];
  /** The drop of every `onDrop` call. */
  readonly drops: DropInfo[];
  /** The message of every `onMessage` call. */
  readonly messages: Message<EventMap>[];
  /** The data of every `onBinary` call. */
  readonly binaries: Uint8Array[];
  /** The error of every `onInvalidMessage` call. */
  readonly invalid: EnvelopeError[];
  /** The reason of every `onRejectedMessage` call. */
  readonly rejected: ("rate-limited" | "busy" | "too-many-requests")[];
}

/**
 * Makes empty {@linkcode Recorded} lists and the hooks that fill them.
 *
 * @typeParam Ctx The server's context type.
 * @returns The lists, and the hooks as server options.
 */
function _recorder<Ctx>(): {
  recorded: Recorded<Ctx>;
  hooks: ServerOptions<Ctx, EventMap, EventMap>;
} {
  const recorded: Recorded<Ctx> = {
    errors: [],
    refusals: [],
    connects: [],
    closes: [],
    drops: [],
    messages: [],
    binaries: [],
    invalid: [],
    rejected: [],
  };
  const hooks: ServerOptions<Ctx, EventMap, EventMap> = {
    onError: (error, session, request) => void recorded.errors.push({ error, session, request }),
    onRefuse: (request, refusal) => void recorded.refusals.push([request, refusal]),
    onConnect: (session) => void recorded.connects.push(session),
    onClose: (_, cause) => void recorded.closes.push(cause),
    onDrop: (_, drop) => void recorded.drops.push(drop),
    onMessage: (_, message) => void recorded.messages.push(message),
    onBinary: (_, data) => void recorded.binaries.push(data),
    onInvalidMessage: (_, error) => void recorded.invalid.push(error),
    onRejectedMessage: (_, reason) => void recorded.rejected.push(reason),
  };
  return { recorded, hooks };
}

/** What {@linkcode Setup.connect} returns. */
export interface Connected<Ctx> {
  /** The fake socket the upgrade made, now open. */
  readonly socket: FakeWebSocket;
  /** The session it opened. */
  readonly session: Session<Ctx, EventMap, EventMap>;
  /** The 101 response. */
  readonly response: Response;
}

/**
 * What {@linkcode setup} returns: the server, its fake timers and upgrade
 * calls, what its hooks recorded, and helpers that open sessions on it.
 *
 * @typeParam Ctx The server's context type.
 */
export interface Setup<Ctx> extends Recorded<Ctx> {
  /** The server. */
  readonly server: Server<Ctx, EventMap, EventMap>;
  /** Its timers. */
  readonly timers: FakeTimers;
  /** Every call of its fake `upgrade`, in order. */
  readonly calls: UpgradeCall[];
  /**
   * Sends a request through `server.fetch()` and cancels the response's body.
   *
   * @param request The request; an upgrade request by default.
   * @param info Who sent it; {@linkcode CLIENT} by default.
   * @returns The response's status.
   */
  status(request?: Request, info?: ServeInfo): Promise<number>;
  /**
   * Opens a session on a {@linkcode FakeSocket} with {@linkcode openSession}.
   *
   * @param options The request, drains, and the socket's options.
   * @returns The socket, the connection and the session.
   */
  open(options?: OpenSessionOptions): Promise<Opened<Ctx, EventMap, EventMap>>;
  /**
   * Runs the gate on an upgrade request from {@linkcode CLIENT} and asserts
   * that it accepted.
   *
   * @param on The server whose gate runs; this one by default.
   * @returns The handshake.
   */
  accept(on?: AdapterServer<Ctx, EventMap, EventMap>): Promise<Handshake<Ctx>>;
  /**
   * Upgrades a request from {@linkcode CLIENT} through `server.fetch()` and
   * the fake upgrade, asserts the 101, then fires the socket's `open`.
   *
   * @param request The upgrade request.
   * @returns The socket, the session it opened and the response.
   */
  connect(request?: Request): Promise<Connected<Ctx>>;
}

/**
 * Builds a server on {@linkcode FakeTimers} with a {@linkcode fakeUpgrade},
 * every hook recorded (see {@linkcode Recorded}). The test's options are
 * spread last, so any of them, a hook too, can be overridden.
 *
 * @typeParam Ctx The server's context type.
 * @param options The server's options.
 * @returns The server, its timers, upgrade calls, recordings and helpers.
 */
export function setup<Ctx = undefined>(
  options: ServerOptions<Ctx, EventMap, EventMap> = {},
): Setup<Ctx> {
  const timers = new FakeTimers();
  const fake = fakeUpgrade();
  const { recorded, hooks } = _recorder<Ctx>();
  const server = new Server<Ctx, EventMap, EventMap>({
    timers,
    upgrade: fake.upgrade,
    ...hooks,
    ...options,
  });
  return {
    server,
    timers,
    calls: fake.calls,
    ...recorded,
    async status(request = upgradeRequest(), info = CLIENT) {
      const response = await server.fetch(request, info);
      await response.body?.cancel();
      return response.status;
    },
    open: (o = {}) => openSession(server, o),
    async accept(on = server) {
      const handshake = await on.handshake(upgradeRequest(), CLIENT);
      assert.ok(handshake instanceof Handshake, "the gate accepted the request");
      return handshake;
    },
    async connect(request = upgradeRequest()) {
      const response = await server.fetch(request, CLIENT);
      assert.equal(response.status, 101);
      const socket = fake.calls.at(-1)!.socket;
      const before = new Set(server.sessions.values());
      socket.fireOpen();
      const session = [...server.sessions.values()].find((s) => !before.has(s))!;
      assert.ok(session, "a session opened");
      return { socket, session, response };
    },
  };
}

/**
 * The size in UTF-8 bytes of the text frame `session.send(topic, data)`
 * writes: the envelope `{"topic","data"}` as JSON.
 *
 * @param topic The topic.
 * @param data The data.
 * @returns The frame's size in bytes.
 */
export function envelopeBytes(topic: string, data: unknown): number {
  return new TextEncoder().encode(JSON.stringify({ topic, data })).length;
}

/**
 * A fake of Bun's `ServerWebSocket` that behaves as Bun 1.4.5 was measured
 * to: `send` returns the payload byte count, -1 once Bun buffers, and 0 only
 * when the buffer was already over `backpressureLimit` (or the socket is
 * closed); `close` calls the close handler synchronously, once.
 */
export class FakeBunSocket implements BunServerWebSocket {
  /** What `server.upgrade()` stored. */
  readonly data: unknown;
  /** 1 open, 3 closed. */
  readyState = 1;
  /** Set by the adapter. */
  binaryType?: string;
  /**
   * What Bun holds in its buffer. It grows only by frames sent while the
   * client is `stalled` (as Bun's does: the adapter counts on it); a test
   * lowers it to say Bun wrote some out.
   */
  buffered = 0;
  /** The client reads nothing: every frame sent stays in `buffered`. */
  stalled = false;
  /** Every frame Bun took, in order. */
  readonly sent: (string | Uint8Array)[] = [];
  /** What each `send()` returned, in order. */
  readonly statuses: number[] = [];
  /** Every call of `close()`, as `[code, reason]`. */
  readonly closeCalls: [number | undefined, string | undefined][] = [];
  /** Corks taken; Bun writes a cork's sends together. */
  corks = 0;
  /** Pings sent. */
  pings = 0;
  readonly #handlers: BunServeOptions["websocket"];

  /**
   * Makes an open socket.
   *
   * @param handlers The adapter's `websocket` handlers.
   * @param data What `server.upgrade()` was given as `data`.
   */
  constructor(handlers: BunServeOptions["websocket"], data: unknown) {
    this.#handlers = handlers;
    this.data = data;
  }

  /**
   * Takes a frame as Bun does.
   *
   * @param data The frame.
   * @returns The bytes written, -1 if buffered, 0 if dropped.
   */
  send(data: string | Uint8Array<ArrayBuffer>): number {
    let status: number;
    if (this.readyState !== 1 || this.buffered > this.#handlers.backpressureLimit) {
      status = 0;
    } else {
      this.sent.push(data);
      if (this.stalled || this.buffered > 0) {
        this.buffered += data.length;
        status = -1;
      } else {
        status = data.length;
      }
    }
    this.statuses.push(status);
    return status;
  }

  /**
   * Records the call and, the first time, runs the close handler at once.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  close(code?: number, reason?: string): void {
    this.closeCalls.push([code, reason]);
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#handlers.close(this, code ?? 1000, reason ?? "");
  }

  /**
   * Counts a ping.
   *
   * @returns 2, the bytes of an empty ping frame.
   */
  ping(): number {
    this.pings++;
    return 2;
  }

  /** The client's side: a pong arrives. */
  pong(): void {
    this.#handlers.pong(this);
  }

  /**
   * What Bun holds.
   *
   * @returns `buffered`.
   */
  getBufferedAmount(): number {
    return this.buffered;
  }

  /**
   * Counts the cork and runs the callback.
   *
   * @param callback The sends.
   * @returns What the callback returns.
   */
  cork<T>(callback: (ws: FakeBunSocket) => T): T {
    this.corks++;
    return callback(this);
  }

  /**
   * The client's side: a message arrives.
   *
   * @param message The message.
   */
  receive(message: string | Uint8Array): void {
    this.#handlers.message(this, message);
  }

  /**
   * Bun closed the connection itself, or the client did.
   *
   * @param code The code Bun reports.
   * @param reason The reason Bun reports.
   */
  closedBy(code: number, reason: string): void {
    this.readyState = 3;
    this.#handlers.close(this, code, reason);
  }

  /** Bun wrote part of its buffer out (tests set `buffered` first). */
  drain(): void {
    this.#handlers.drain(this);
  }

  /** The client reads again, and Bun wrote its whole buffer out. */
  drained(): void {
    this.stalled = false;
    this.buffered = 0;
    this.#handlers.drain(this);
  }

  /**
   * The envelopes sent so far, parsed.
   *
   * @returns Each text frame's value, in order.
   */
  envelopes(): { topic: string; data: unknown }[] {
    return this.sent.filter((m) => typeof m === "string").map((m) => JSON.parse(m as string));
  }
}

/** One call of {@linkcode FakeBun.upgrade}. */
export interface BunUpgradeCall {
  /** The request. */
  readonly request: Request;
  /** The socket's `data`. */
  readonly data: unknown;
  /** The extra response headers. */
  readonly headers?: Record<string, string>;
}

/**
 * A fake of Bun's `Server`, the second argument of `fetch`: `upgrade` opens
 * a {@linkcode FakeBunSocket} synchronously, as Bun does, unless the test
 * makes it refuse (`accept`) or throw (`failure`).
 */
export class FakeBun implements BunServer {
  /** Every call of `upgrade()`, in order. */
  readonly upgrades: BunUpgradeCall[] = [];
  /** Every socket opened, in order. */
  readonly sockets: FakeBunSocket[] = [];
  /** `false` makes `upgrade()` return `false`. */
  accept = true;
  /** Set, `upgrade()` throws it. */
  failure: unknown = undefined;
  /** What `requestIP()` returns; `null` as for a Unix socket. */
  ip: BunSocketAddress | null = { address: "127.0.0.1", port: 40123, family: "IPv4" };
  /** Runs inside `upgrade()` just before Bun's `open`. */
  beforeOpen: (() => void) | undefined;
  readonly #handlers: BunServeOptions["websocket"];

  /**
   * Makes a Bun that upgrades into the adapter's handlers.
   *
   * @param handlers The adapter's `websocket` handlers.
   */
  constructor(handlers: BunServeOptions["websocket"]) {
    this.#handlers = handlers;
  }

  /**
   * Records the call, then refuses, throws, or opens a socket.
   *
   * @param request The request.
   * @param options The socket's data and extra headers.
   * @returns `true` once the socket is open, `false` if refused.
   */
  upgrade(request: Request, options: { data: unknown; headers?: Record<string, string> }): boolean {
    this.upgrades.push({ request, ...options });
    if (this.failure !== undefined) throw this.failure;
    if (!this.accept) return false;
    const ws = new FakeBunSocket(this.#handlers, options.data);
    this.sockets.push(ws);
    this.beforeOpen?.();
    this.#handlers.open(ws);
    return true;
  }

  /**
   * Tells who sent a request.
   *
   * @returns `ip`.
   */
  requestIP(_request: Request): BunSocketAddress | null {
    return this.ip;
  }
}

/** The context {@linkcode setupBun}'s server makes by default: `?user=` or `"anon"`. */
export type BunCtx = { user: string };

/**
 * What {@linkcode setupBun} returns: the server, the adapter, the fake Bun,
 * what the hooks recorded, and a helper that opens a session.
 */
export interface BunSetup extends Recorded<BunCtx> {
  /** The server. */
  readonly server: Server<BunCtx, EventMap, EventMap>;
  /** The Bun adapter over it. */
  readonly adapter: BunServeOptions;
  /** The fake Bun the adapter's `fetch` is given. */
  readonly bun: FakeBun;
  /**
   * Upgrades one request through the adapter's `fetch`, asserting that it
   * succeeds.
   *
   * @param query The request's query string.
   * @returns The socket Bun opened and the last session `onConnect` recorded.
   */
  connect(query?: string): Promise<{ ws: FakeBunSocket; session: Session<BunCtx> }>;
}

/**
 * An upgrade request to the Bun server, with a query string.
 *
 * @param query The query string, with its `?`.
 * @param headers More headers.
 * @returns The request.
 */
export function bunRequest(query = "", headers: Record<string, string> = {}): Request {
  return upgradeRequest(`http://localhost/ws${query}`, headers);
}

/**
 * Builds a server (on the runtime's own timers) behind the Bun adapter and
 * a {@linkcode FakeBun}, every hook recorded (see {@linkcode Recorded}),
 * with a context factory that reads `?user=`. The test's options are
 * spread last, so any of them, a hook too, can be overridden; a test that
 * overrides `onConnect` pushes to `connects` itself if it uses `connect`.
 *
 * @param options The server's options.
 * @returns The server, the adapter, the fake Bun, recordings and `connect`.
 */
export function setupBun(options: ServerOptions<BunCtx, EventMap, EventMap> = {}): BunSetup {
  const { recorded, hooks } = _recorder<BunCtx>();
  const server = new Server<BunCtx>({
    context: (request) => ({ user: new URL(request.url).searchParams.get("user") ?? "anon" }),
    ...hooks,
    ...options,
  });
  const adapter = bunAdapter(server);
  const bun = new FakeBun(adapter.websocket);
  return {
    server,
    adapter,
    bun,
    ...recorded,
    async connect(query = "?user=ada") {
      const response = await adapter.fetch(bunRequest(query), bun);
      assert.equal(response, undefined, "the upgrade succeeds");
      const ws = bun.sockets.at(-1)!;
      const session = recorded.connects.at(-1)!;
      return { ws, session };
    },
  };
}
