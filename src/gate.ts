import { HttpError } from "./errors.ts";
import { brokenHandshake, Handshake } from "./handshake.ts";
import type { HookRunner } from "./hooks.ts";
import type { ServerOptions } from "./options.ts";
import type { Refusal, ServeInfo } from "./serving.ts";
import { type Clock, type GateSettings, normalOrigin } from "./settings.ts";
import { BATCH_PROTOCOL, V1_BATCH_PROTOCOL, V1_PROTOCOL } from "./protocol.ts";
import type { Tally } from "./stats.ts";

/** An accepted handshake's admission under the caps, until an open, an abandon or its expiry. */
class _Ticket {
  /** The client key it counts under; `""` for none. */
  readonly key: string;
  /** When the admission goes back if no socket opened (the clock's `now()`, ms). */
  readonly deadline: number;

  constructor(key: string, deadline: number) {
    this.key = key;
    this.deadline = deadline;
  }
}

/**
 * The gate in front of the upgrade: `request → Handshake | Response`. It
 * checks the handshake, the origin and the session caps, runs the context
 * factory within its timeout, and chooses the subprotocol. Every refusal
 * is counted and reported to `onRefuse`.
 *
 * It also keeps the admissions: each accepted handshake holds one place
 * under `maxSessions` and one under `maxSessionsPerClient` for its client
 * key, passed on to the session on open, and given back exactly once.
 */
export class Gate<Ctx> {
  readonly #settings: GateSettings;
  readonly #factory: _ContextFactory<Ctx> | undefined;
  readonly #clientKey: (request: Request, info: ServeInfo) => string | undefined;
  readonly #clock: Clock;
  // deno-lint-ignore no-explicit-any
  readonly #hooks: HookRunner<any>;
  readonly #tally: Tally;
  readonly #onRefuse: ((request: Request, refusal: Refusal) => unknown) | undefined;
  /**
   * Handshakes accepted and neither opened, abandoned nor expired, oldest
   * first: all wait the same `handshakeTimeout`, so one timer, armed for
   * the oldest, expires them all in turn (no timer a connect).
   */
  readonly #tickets = new Map<Handshake<Ctx>, _Ticket>();
  #expiry: unknown;
  /** Every handshake this gate made, to tell a used one from a foreign one. */
  readonly #made = new WeakSet<Handshake<Ctx>>();
  readonly #perClient = new Map<string, number>();
  #maxSessions: number;
  #admitted = 0;
  /** Admitted requests whose context factory is still running. */
  #deciding = 0;
  #abandoned = 0;
  #closed = false;
  #warnedKeyless = false;

  constructor(
    settings: GateSettings,
    hooks: {
      context?: _ContextFactory<Ctx>;
      clientKey?: (request: Request, info: ServeInfo) => string | undefined;
      onRefuse?: (request: Request, refusal: Refusal) => unknown;
    },
    // deno-lint-ignore no-explicit-any
    runner: HookRunner<any>,
    clock: Clock,
    tally: Tally,
  ) {
    this.#settings = settings;
    this.#maxSessions = settings.maxSessions;
    this.#factory = hooks.context;
    this.#clientKey = hooks.clientKey ?? _remoteHost;
    this.#onRefuse = hooks.onRefuse;
    this.#hooks = runner;
    this.#clock = clock;
    this.#tally = tally;
  }

  /** Places taken under `maxSessions`: handshakes under way and sessions not yet gone. */
  get admitted(): number {
    return this.#admitted;
  }

  /** Upgrades admitted and not yet opened or given back: in the context factory, or waiting for their socket. */
  get handshakes(): number {
    return this.#deciding + this.#tickets.size;
  }

  /** Handshakes given back without a session: abandoned, expired, or dropped by a shutdown. */
  get abandoned(): number {
    return this.#abandoned;
  }

  /** The cap on places taken: `maxSessions`, or lower once {@linkcode Gate.lowerMaxSessions} ran. */
  get maxSessions(): number {
    return this.#maxSessions;
  }

  /**
   * Lowers the cap (never raises it); places already taken stay taken.
   *
   * @returns The cap in force.
   * @throws {RangeError} If `max` is not a positive integer.
   */
  lowerMaxSessions(max: number): number {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Cannot lower maxSessions: expected a positive integer, got ${max}`);
    }
    return this.#maxSessions = Math.min(this.#maxSessions, max);
  }

  /** `true` once closed: every request is refused with 503. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Refuses every request from now on (shutdown). Handshakes already
   * accepted may still open (the server then closes them with 1001) until
   * they expire.
   */
  close(): void {
    this.#closed = true;
  }

  /**
   * Runs the gate on an upgrade request: synchronously when the context
   * factory is (or there is none), so that a runtime can upgrade in the same
   * call (an upgrade after an `await` keeps more memory per socket on Bun);
   * once its promise settles when it returns one.
   *
   * @returns The accepted handshake, or the refusal to answer with.
   */
  admit(
    request: Request,
    info: ServeInfo,
  ): Handshake<Ctx> | Response | Promise<Handshake<Ctx> | Response> {
    if (this.#closed) return this.refuse(request, 503, "shutting-down", "Server is shutting down");
    const broken = brokenHandshake(request);
    if (broken !== undefined) {
      const [status, fault] = broken;
      const message = `Bad WebSocket handshake: ${fault}`;
      const response = this.refuse(request, status, "bad-handshake", message);
      if (status === 426) response.headers.set("sec-websocket-version", "13");
      return response;
    }
    const origin = request.headers.get("origin");
    if (!this.#originAllowed(origin, request)) {
      return this.refuse(request, 403, "origin", `Origin not allowed: ${origin ?? "(none)"}`);
    }
    if (this.#admitted >= this.#maxSessions) {
      return this.refuse(request, 503, "server-full", "Too many sessions");
    }
    // No cap per client: no key kept per session (on Bun, its address string).
    const key = this.#settings.maxSessionsPerClient === Infinity ? "" : this.#keyOf(request, info);
    const held = key === "" ? 0 : this.#perClient.get(key) ?? 0;
    if (held >= this.#settings.maxSessionsPerClient) {
      return this.refuse(request, 429, "client-full", "Too many sessions from this client");
    }
    // Admitted now, so that concurrent handshakes cannot all pass the caps.
    this.#take(key);
    this.#deciding++;
    let ctx: Ctx | Response | Promise<Ctx | Response>;
    try {
      ctx = this.#runContext(request, info);
    } catch (error) {
      return this.#failed(request, key, error);
    }
    if (!(ctx instanceof Promise)) return this.#decided(request, key, ctx);
    return this.#later(request, key, ctx);
  }

  /** Decides once the context factory's promise settles (its own method: see `HookRunner`). */
  #later(
    request: Request,
    key: string,
    ctx: Promise<Ctx | Response>,
  ): Promise<Handshake<Ctx> | Response> {
    return ctx.then(
      (value) => this.#decided(request, key, value),
      (error) => this.#failed(request, key, error),
    );
  }

  /** The context factory threw or rejected: its place is given back, and the request refused. */
  #failed(request: Request, key: string, error: unknown): Response {
    this.#deciding--;
    this.#release(key);
    if (error instanceof HttpError) {
      return this.refuse(request, error.status, "context", error.message);
    }
    if (error === _TIMED_OUT) {
      return this.refuse(request, 503, "context-timeout", "The context factory timed out");
    }
    this.#hooks.report(error, undefined, request);
    return this.refuse(request, 500, "context-error", "Internal Server Error");
  }

  /** The context factory answered: a handshake holding its place, or a refusal. */
  #decided(request: Request, key: string, ctx: Ctx | Response): Handshake<Ctx> | Response {
    this.#deciding--;
    if (ctx instanceof Response) {
      this.#release(key);
      this.#refused(request, { status: ctx.status, reason: "context", message: ctx.statusText });
      return ctx;
    }
    if (this.#closed) {
      this.#release(key);
      return this.refuse(request, 503, "shutting-down", "Server is shutting down");
    }
    const handshake = new Handshake(ctx, this.#chooseProtocol(request));
    // Its socket must open in time: a runtime may report nothing at all for
    // a client that left before or during the 101 (Deno does not).
    const timeout = this.#settings.handshakeTimeout;
    this.#tickets.set(handshake, new _Ticket(key, this.#clock.now() + timeout));
    this.#expiry ??= this.#clock.setTimeout(this.#expire, timeout);
    this.#made.add(handshake);
    return handshake;
  }

  /**
   * Takes an accepted handshake for a socket that opened: its admission
   * passes to the session.
   *
   * @returns The client key the session holds its place under (`""` for none).
   * @throws {TypeError} If this gate did not make the handshake, or it was
   *   already opened or abandoned.
   */
  claim(handshake: Handshake<Ctx>): string {
    const ticket = this.#tickets.get(handshake);
    if (ticket === undefined) {
      throw new TypeError(
        this.#made.has(handshake)
          ? "Cannot open a session: the handshake was already opened or abandoned"
          : "Cannot open a session: the handshake was not made by this server",
      );
    }
    this.#withdraw(handshake);
    return ticket.key;
  }

  /** Gives back the admission of a handshake whose socket never opened; idempotent. */
  abandon(handshake: Handshake<Ctx>): void {
    const ticket = this.#tickets.get(handshake);
    if (ticket === undefined) return;
    this.#withdraw(handshake);
    this.#abandoned++;
    this.#release(ticket.key);
  }

  /** Takes a ticket out; the expiry timer stops with the last one. */
  #withdraw(handshake: Handshake<Ctx>): void {
    this.#tickets.delete(handshake);
    if (this.#tickets.size > 0 || this.#expiry === undefined) return;
    this.#clock.clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  /** Abandons the handshakes past their deadline, then waits for the oldest left. */
  readonly #expire = (): void => {
    this.#expiry = undefined;
    const now = this.#clock.now();
    for (const [handshake, ticket] of this.#tickets) {
      if (ticket.deadline > now) {
        this.#expiry = this.#clock.setTimeout(this.#expire, ticket.deadline - now);
        return;
      }
      this.abandon(handshake);
    }
  };

  /** Gives back a session's admission once its connection is gone. */
  release(key: string): void {
    this.#release(key);
  }

  /**
   * `Bun.serve({ fetch: server.fetch })`, without the adapter: no upgrade
   * can work, and the operator hears why. `undefined` if not so.
   */
  misserved(request: Request, info: ServeInfo): Response | undefined {
    if (typeof (info as { upgrade?: unknown }).upgrade !== "function") return undefined;
    const message = "Cannot upgrade: on Bun, serve with Bun.serve({ ...bunAdapter(server) }) " +
      "from @switchboard/ws/bun, not fetch: server.fetch";
    this.#hooks.report(new TypeError(message), undefined, request);
    return this.refuse(request, 500, "upgrade-failed", message);
  }

  /** Counts and reports a refusal, and makes its response. */
  refuse(request: Request, status: number, reason: Refusal["reason"], message: string): Response {
    this.#refused(request, { status, reason, message });
    return new Response(message, { status });
  }

  #refused(request: Request, refusal: Refusal): void {
    this.#tally.rejected++;
    if (this.#onRefuse !== undefined) this.#hooks.call(this.#onRefuse, request, refusal);
  }

  #take(key: string): void {
    this.#admitted++;
    if (key !== "") this.#perClient.set(key, (this.#perClient.get(key) ?? 0) + 1);
  }

  #release(key: string): void {
    this.#admitted--;
    if (key === "") return;
    const held = this.#perClient.get(key)! - 1;
    if (held === 0) this.#perClient.delete(key);
    else this.#perClient.set(key, held);
  }

  /** The client key (asked only under a cap per client); a request without one is not capped, said once to `onError`. */
  #keyOf(request: Request, info: ServeInfo): string {
    const key = this.#clientKey(request, info) ?? "";
    if (key === "" && !this.#warnedKeyless) {
      this.#warnedKeyless = true;
      this.#hooks.report(
        new Error(
          "An upgrade request has no client key, so maxSessionsPerClient does not apply to it: " +
            "pass the runtime's info to server.fetch(request, info), or set clientKey",
        ),
        undefined,
        request,
      );
    }
    return key;
  }

  #runContext(request: Request, info: ServeInfo): Ctx | Response | Promise<Ctx | Response> {
    const factory = this.#factory;
    if (factory === undefined) return undefined as Ctx;
    let result = factory(request, info);
    if (!(result instanceof Promise)) {
      if (!_isThenable(result)) return result;
      result = Promise.resolve(result); // awaited, as `await` would
    }
    return this.#bounded(result);
  }

  /** Rejects with `_TIMED_OUT` if `result` takes longer than `handshakeTimeout`. */
  #bounded(result: Promise<Ctx | Response>): Promise<Ctx | Response> {
    const clock = this.#clock;
    let timer: unknown;
    const expired = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => reject(_TIMED_OUT), this.#settings.handshakeTimeout);
    });
    return Promise.race([result, expired]).finally(() => clock.clearTimeout(timer));
  }

  #originAllowed(origin: string | null, request: Request): boolean {
    const allowed = this.#settings.origins;
    if (allowed === "*") return true;
    if (origin === null) return this.#settings.allowMissingOrigin;
    const normal = normalOrigin(origin);
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

  #chooseProtocol(request: Request): string | undefined {
    const offered = request.headers.get("sec-websocket-protocol");
    if (offered === null) return undefined;
    const names = offered.split(",").map((name) => name.trim());
    const { protocols, protocol, batch } = this.#settings;
    // The best the server speaks, whatever the client's order: v1 with batch
    // frames, then v1, then batch frames alone.
    return protocols.find((name) => names.includes(name)) ??
      (protocol && batch && names.includes(V1_BATCH_PROTOCOL) ? V1_BATCH_PROTOCOL : undefined) ??
      (protocol && names.includes(V1_PROTOCOL) ? V1_PROTOCOL : undefined) ??
      (batch && names.includes(BATCH_PROTOCOL) ? BATCH_PROTOCOL : undefined);
  }
}

type _ContextFactory<Ctx> = NonNullable<ServerOptions<Ctx, object, object>["context"]>;

/** Whether `value` has a `then` method, as `await` checks. */
function _isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** Rejects a context factory that ran past `handshakeTimeout`. */
const _TIMED_OUT: unique symbol = Symbol("timed out");

function _remoteHost(_request: Request, info: ServeInfo): string | undefined {
  return info.remoteAddr?.hostname;
}
