import { Backoff } from "./_backoff.ts";
import type { Clock } from "./_requests.ts";
import { decodeIncoming, HELLO, type Incoming, V1_BATCH_PROTOCOL, V1_PROTOCOL } from "./_wire.ts";
import type { ClientSocket, NetworkEvents, Params, WebSocketConstructor } from "./options.ts";
import type { ClosedEvent, OpenEvent } from "./events.ts";

/** What the connector tells its client. */
export interface ConnectorOwner {
  /** An attempt starts; `attempt` counts from 1. */
  attempting(attempt: number): void;
  /** Connected (after `$hello` on a protocol session). */
  ready(event: OpenEvent): void;
  /** Envelopes of a frame, in order. */
  envelopes(list: Incoming[]): void;
  /** A binary frame. */
  binary(data: ArrayBuffer): void;
  /** A frame that could not be decoded. */
  invalidFrame(error: Error): void;
  /** The connection closed or an attempt failed; `delay` is `undefined` if no retry follows. */
  lost(code: number, reason: string, delay: number | undefined, failed: number): void;
  /** Closed for good. */
  stopped(event: ClosedEvent): void;
}

/** The connector's settings, resolved. */
export interface ConnectorSettings {
  readonly url: URL;
  readonly protocols: string[];
  readonly params: Params | (() => Params | Promise<Params>) | undefined;
  readonly WebSocket: WebSocketConstructor;
  readonly clock: Clock;
  readonly random: () => number;
  readonly network: NetworkEvents | null;
  readonly reconnect: boolean;
  readonly base: number;
  readonly cap: number;
  readonly resetAfter: number;
  readonly maxFailedAttempts: number;
  readonly connectTimeout: number;
  readonly heartbeatGrace: number | undefined;
  readonly closeTimeout: number;
}

type _Phase = "attempting" | "hello" | "open" | "waiting" | "stopped";

/**
 * Keeps one connection: attempts, backoff, connect timeout, liveness,
 * `online` / `offline`. **At most one live socket**: every socket belongs
 * to a generation, and anything that ends a connection (its `close`
 * event, a timeout) moves to the next generation and closes the socket
 * before a new one may be opened; events of an older generation are
 * ignored. A new attempt starts only from a scheduled retry, which only a
 * closed connection schedules (never an `error` event).
 */
export class Connector {
  readonly #s: ConnectorSettings;
  readonly #owner: ConnectorOwner;
  readonly #backoff: Backoff;
  #gen = 0;
  #phase: _Phase = "waiting";
  #socket: ClientSocket | undefined;
  #socketClosed: Promise<void> | undefined;
  #online: boolean;
  #everOpened = false;
  #attempts = 0;
  /** Consecutive attempts, made while online, that never opened. */
  #failed = 0;
  #openedAt = 0;
  #lastFrame = 0;
  #deadline = 0;
  #connectTimer: unknown;
  #liveTimer: unknown;
  #retryTimer: unknown;
  #retryAt = 0;
  readonly #onOnline = () => this.#online_();
  readonly #onOffline = () => {
    this.#online = false;
  };

  constructor(settings: ConnectorSettings, owner: ConnectorOwner) {
    this.#s = settings;
    this.#owner = owner;
    this.#backoff = new Backoff(settings.base, settings.cap, settings.random);
    this.#online = settings.network?.onLine !== false;
    settings.network?.addEventListener("online", this.#onOnline);
    settings.network?.addEventListener("offline", this.#onOffline);
  }

  /** Whether the connection is open and ready for frames. */
  get open(): boolean {
    return this.#phase === "open" && this.#socket?.readyState === 1;
  }

  /** Whether the client is closed for good. */
  get stopped(): boolean {
    return this.#phase === "stopped";
  }

  /** The socket of the current attempt or connection (tests look at it). */
  get socket(): ClientSocket | undefined {
    return this.#socket;
  }

  /** Makes the first attempt. */
  start(): void {
    if (this.#phase === "waiting" && this.#attempts === 0) this.#attempt();
  }

  /**
   * Sends a frame on the open connection.
   *
   * @returns `false` if it is not open (nothing sent).
   */
  send(text: string): boolean {
    if (!this.open) return false;
    this.#socket!.send(text);
    return true;
  }

  /**
   * Closes for good: the socket with `code` and `reason`, every timer,
   * the network listeners. Resolves when the socket reported its close,
   * or after `closeTimeout`.
   */
  async stop(code: number, reason: string): Promise<void> {
    if (this.#phase === "stopped") return;
    const closed = this.#socket !== undefined ? this.#socketClosed : undefined;
    this.#stop({ cause: "client", code, reason });
    if (closed === undefined) return;
    let timer: unknown;
    await Promise.race([
      closed,
      new Promise<void>((resolve) => {
        timer = this.#s.clock.setTimeout(resolve, this.#s.closeTimeout);
      }),
    ]);
    this.#s.clock.clearTimeout(timer);
  }

  #attempt(): void {
    const gen = ++this.#gen;
    this.#retryTimer = undefined;
    this.#phase = "attempting";
    this.#owner.attempting(++this.#attempts);
    if (gen !== this.#gen) return; // a listener closed the client
    this.#connectTimer = this.#s.clock.setTimeout(
      () => this.#lose(gen, 1006, "Connect timeout", false),
      this.#s.connectTimeout,
    );
    const params = this.#s.params;
    if (typeof params !== "function") return this.#open(gen, params);
    let result: Params | Promise<Params>;
    try {
      result = params();
    } catch (error) {
      return this.#lose(gen, 1006, `params() threw: ${_message(error)}`, false);
    }
    if (!(result instanceof Promise)) return this.#open(gen, result);
    result.then(
      (value) => this.#open(gen, value),
      (error) => this.#lose(gen, 1006, `params() rejected: ${_message(error)}`, false),
    );
  }

  #open(gen: number, params: Params | undefined): void {
    if (gen !== this.#gen) return;
    let socket: ClientSocket;
    try {
      socket = new this.#s.WebSocket(_withParams(this.#s.url, params), this.#s.protocols);
    } catch (error) {
      return this.#lose(gen, 1006, `Cannot open: ${_message(error)}`, false);
    }
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    this.#socketClosed = new Promise((resolve) => {
      socket.onclose = (event) => {
        resolve();
        if (gen === this.#gen) this.#lose(gen, _closeCode(event.code), event.reason, true);
      };
    });
    socket.onopen = () => this.#opened(gen, socket);
    socket.onmessage = (event) => this.#frame(gen, event.data);
    socket.onerror = () => {}; // a close event follows: only it ends the connection
  }

  #opened(gen: number, socket: ClientSocket): void {
    if (gen !== this.#gen) return _close(socket, 1000, "Stale connection");
    this.#lastFrame = this.#s.clock.now();
    const protocol = socket.protocol ?? "";
    if (protocol === V1_PROTOCOL || protocol === V1_BATCH_PROTOCOL) this.#phase = "hello";
    else this.#ready(gen, protocol, undefined);
  }

  #frame(gen: number, data: unknown): void {
    if (gen !== this.#gen) return;
    this.#lastFrame = this.#s.clock.now();
    if (typeof data !== "string") {
      if (data instanceof ArrayBuffer) this.#owner.binary(data);
      return;
    }
    let list: Incoming[];
    try {
      list = decodeIncoming(data);
    } catch (error) {
      return this.#owner.invalidFrame(error as Error);
    }
    if (this.#phase === "hello") {
      const hello = list[0]?.topic === HELLO ? list.shift()!.data : undefined;
      this.#ready(gen, this.#socket!.protocol, hello);
      if (gen !== this.#gen) return;
    }
    if (list.length > 0) this.#owner.envelopes(list);
  }

  #ready(gen: number, protocol: string, hello: unknown): void {
    this.#s.clock.clearTimeout(this.#connectTimer);
    this.#phase = "open";
    this.#openedAt = this.#lastFrame = this.#s.clock.now();
    this.#failed = 0;
    const h = (typeof hello === "object" && hello !== null ? hello : {}) as Record<string, unknown>;
    const heartbeat = typeof h.heartbeat === "number" && h.heartbeat > 0 ? h.heartbeat : 0;
    if (heartbeat > 0) {
      this.#deadline = heartbeat + (this.#s.heartbeatGrace ?? Math.max(heartbeat / 2, 2000));
      this.#liveTimer = this.#s.clock.setTimeout(() => this.#checkLive(gen), this.#deadline);
    }
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    this.#owner.ready({
      session: typeof h.session === "string" ? h.session : "",
      protocol,
      heartbeat,
      limits: _limits(h.limits),
      reconnected,
    });
  }

  #checkLive(gen: number): void {
    if (gen !== this.#gen) return;
    const idle = this.#s.clock.now() - this.#lastFrame;
    if (idle >= this.#deadline) return this.#lose(gen, 1006, "Heartbeat timeout", false);
    this.#liveTimer = this.#s.clock.setTimeout(
      () => this.#checkLive(gen),
      this.#deadline - idle,
    );
  }

  /** Ends the connection or attempt of generation `gen`, then retries or stops. */
  #lose(gen: number, code: number, reason: string, byClose: boolean): void {
    if (gen !== this.#gen || this.#phase === "stopped") return;
    const wasOpen = this.#phase === "open";
    this.#retire(1000, reason);
    const now = this.#s.clock.now();
    if (wasOpen && now - this.#openedAt >= this.#s.resetAfter) this.#backoff.reset();
    if (!wasOpen && this.#online) this.#failed++;
    let stop: ClosedEvent | undefined;
    if (byClose && code >= 4000 && code <= 4099) stop = { cause: "server", code, reason };
    else if (!this.#s.reconnect) stop = { cause: "lost", code, reason };
    else if (this.#failed >= this.#s.maxFailedAttempts) stop = { cause: "retries", code, reason };
    if (stop !== undefined) {
      this.#phase = "stopped";
      this.#owner.lost(code, reason, undefined, this.#failed);
      this.#stop(stop);
      return;
    }
    let delay = this.#backoff.next();
    if (!this.#online) delay = Math.max(delay, this.#s.cap); // offline: no tight loop
    this.#schedule(delay);
    this.#owner.lost(code, reason, delay, this.#failed);
  }

  #schedule(delay: number): void {
    this.#phase = "waiting";
    this.#s.clock.clearTimeout(this.#retryTimer);
    this.#retryAt = this.#s.clock.now() + delay;
    this.#retryTimer = this.#s.clock.setTimeout(() => this.#attempt(), delay);
  }

  /** The network is back: a waiting retry comes early, after `random(0, base)` (no herd). */
  #online_(): void {
    this.#online = true;
    if (this.#phase !== "waiting" || this.#retryTimer === undefined) return;
    const delay = Math.floor(_unit(this.#s.random()) * this.#s.base);
    if (this.#s.clock.now() + delay < this.#retryAt) this.#schedule(delay);
  }

  /**
   * Moves to the next generation and closes the socket, if any (with
   * `code`, or none if the runtime refuses it); clears the connection's timers.
   */
  #retire(code: number, reason: string): void {
    this.#gen++;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) _close(socket, code, reason);
    this.#s.clock.clearTimeout(this.#connectTimer);
    this.#s.clock.clearTimeout(this.#liveTimer);
    this.#connectTimer = this.#liveTimer = undefined;
  }

  #stop(event: ClosedEvent): void {
    this.#retire(event.cause === "client" ? event.code : 1000, event.reason);
    this.#phase = "stopped";
    this.#s.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#s.network?.removeEventListener("online", this.#onOnline);
    this.#s.network?.removeEventListener("offline", this.#onOffline);
    this.#owner.stopped(event);
  }
}

/** Closes a socket unless it is closing or closed; a code browsers refuse falls back to none. */
function _close(socket: ClientSocket, code: number, reason: string): void {
  if (socket.readyState >= 2) return;
  try {
    socket.close(code, _clipReason(reason));
  } catch {
    try {
      socket.close();
    } catch {
      // nothing more to do
    }
  }
}

/** A close reason is at most 123 UTF-8 bytes: keep it short. */
function _clipReason(reason: string): string {
  return reason.length > 60 ? reason.slice(0, 60) : reason;
}

function _withParams(url: URL, params: Params | undefined): string {
  if (params === undefined) return url.href;
  const out = new URL(url.href);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) out.searchParams.set(key, String(value));
  }
  return out.href;
}

function _limits(value: unknown): Readonly<Record<string, number>> {
  const limits: Record<string, number> = {};
  if (typeof value !== "object" || value === null) return limits;
  for (const [key, n] of Object.entries(value)) if (typeof n === "number") limits[key] = n;
  return limits;
}

/**
 * A close event's code as the spec has it: Deno reports an abnormal
 * closure (the peer gone without a close frame) as 0, browsers and Bun as
 * 1006; anything outside 1000 to 4999 becomes 1006.
 */
function _closeCode(code: number): number {
  return Number.isInteger(code) && code >= 1000 && code <= 4999 ? code : 1006;
}

function _unit(r: number): number {
  return r >= 0 && r < 1 ? r : 0;
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
