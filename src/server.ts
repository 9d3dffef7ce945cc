import type {
  AdapterServer,
  Connection as AdapterConnection,
  OpenOptions,
  ServerLimits,
} from "./adapter.ts";
import { CloseCode } from "./close_codes.ts";
import { Connection, type ConnectionHost } from "./connection.ts";
import { attachWebSocket, upgradeWithDeno } from "./deno.ts";
import { Gate } from "./gate.ts";
import type { Handshake } from "./handshake.ts";
import { ClientRooms } from "./client_rooms.ts";
import { Heartbeat } from "./heartbeat.ts";
import type { History } from "./history.ts";
import { connectionHooks, HookRunner } from "./hooks.ts";
import { RequestRunner } from "./requests.ts";
import type { ServeInfo, ServerOptions, ShutdownOptions } from "./options.ts";
import { historyOf, resolveOptions, type Settings } from "./settings.ts";
import { Publisher, type PublishOptions, type PublishResult } from "./fanout.ts";
import { BatchJoiner } from "./outbound.ts";
import { encodeHello } from "./protocol.ts";
import { Registry } from "./registry.ts";
import { Scheduler } from "./scheduler.ts";
import type { Session } from "./session.ts";
import type { Socket } from "./socket.ts";
import { historyStats, type ServerStats, Tally } from "./stats.ts";

/**
 * A WebSocket server: a request handler for `Deno.serve`, a registry of
 * sessions, a room index, publish and graceful shutdown. The core names no
 * runtime; Deno is the default upgrade and Bun has an adapter.
 *
 * `fetch` hands requests that are not upgrades to `fallback` (else 426),
 * runs the gate and the context factory on the others, and upgrades what
 * they accept (101, then `onConnect`). Every refusal gets its HTTP status
 * (see {@linkcode Refusal} for each), is counted (`stats.rejected`) and
 * reported to `onRefuse`.
 *
 * @typeParam Ctx The context type, inferred from the `context` option.
 * @typeParam In Each client topic's data, set by the `contract` option.
 * @typeParam Out Each server topic's data, set by the `contract` option.
 * @typeParam Req Each request's input and output, set by the `contract` option.
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
  In extends object = Record<string, unknown>,
  Out extends object = Record<string, unknown>,
  Req extends Record<string, { input: unknown; output: unknown }> = Record<never, never>,
> implements AdapterServer<Ctx, In, Out> {
  readonly #options: ServerOptions<Ctx, In, Out, Req>;
  readonly #settings: Settings;
  readonly #runner: HookRunner<Session<Ctx, In, Out>>;
  readonly #tally = new Tally();
  readonly #gate: Gate<Ctx>;
  readonly #scheduler: Scheduler;
  readonly #host: ConnectionHost<Ctx, In, Out>;
  readonly #registry: Registry<Ctx, In, Out>;
  readonly #publisher: Publisher<Connection<Ctx, In, Out>>;
  readonly #heartbeat: Heartbeat;
  #shutdown: Promise<void> | undefined;

  /**
   * Creates a server.
   *
   * @param options The context factory, contract, hooks and limits.
   * @throws {RangeError} If a limit is out of range.
   * @throws {TypeError} If the contract is not one, or a request lacks its handler.
   */
  constructor(options: ServerOptions<Ctx, In, Out, Req> = {}) {
    this.#options = options;
    const settings = this.#settings = resolveOptions(options);
    const runner = this.#runner = new HookRunner(options.onError);
    const tally = this.#tally;
    this.#gate = new Gate(settings.gate, options, runner, settings.clock, tally);
    const scheduler = this.#scheduler = new Scheduler(settings.clock);
    const rules = settings.inbound.contract;
    const publisher = this.#publisher = new Publisher(
      historyOf(options.history, settings.clock),
      rules?.check,
    );
    this.#registry = new Registry(publisher.rooms);
    this.#heartbeat = new Heartbeat(settings.protocol.heartbeat, settings.clock, tally);
    this.#host = {
      life: settings.life,
      clock: settings.clock,
      outbound: { settings: settings.outbound, scheduler, tally, joiner: new BatchJoiner() },
      scheduler,
      inbound: { settings: settings.inbound, tally, now: settings.clock.now },
      rooms: this.#registry.rooms,
      runner,
      check: rules?.check,
      requests: rules && new RequestRunner(rules, options.requests, runner),
      clientRooms: new ClientRooms(options.authorizeJoin, publisher, runner, tally, settings.life),
      hooks: connectionHooks(options),
      closed: (connection, lingering) => this.#closed(connection, lingering),
      disconnected: (connection) => this.#disconnected(connection),
    };
  }

  /**
   * The request handler for `Deno.serve`: upgrades WebSocket requests that
   * pass the gate and the context factory (see the table above), hands the
   * rest to `fallback`.
   *
   * @param request The HTTP request.
   * @param info The connection info `Deno.serve` passes; without it, the
   *   per-client cap does not apply (say the key with `clientKey`).
   * @returns The response: a 101 upgrade or a refusal.
   */
  readonly fetch: (request: Request, info?: ServeInfo) => Promise<Response> = async (
    request,
    info = {},
  ) => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return this.#options.fallback?.(request, info) ??
        new Response("Upgrade Required", { status: 426, headers: { upgrade: "websocket" } });
    }
    const misserved = this.#options.upgrade ?? this.#gate.misserved(request, info);
    if (misserved instanceof Response) return misserved;
    const handshake = await this.#gate.admit(request, info);
    if (handshake instanceof Response) return handshake;
    let upgraded;
    try {
      upgraded = (this.#options.upgrade ?? upgradeWithDeno)(request, {
        protocol: handshake.protocol,
        idleTimeout: this.#settings.life.idleTimeout,
      });
    } catch (error) {
      return this.upgradeFailed(request, handshake, error);
    }
    attachWebSocket(this, upgraded.socket, handshake);
    return upgraded.response;
  };

  /** Every session open or closing, by id. */
  get sessions(): ReadonlyMap<string, Session<Ctx, In, Out>> {
    return this.#registry.sessions;
  }

  /** Every room with at least one member, to its members. */
  get rooms(): ReadonlyMap<string, ReadonlySet<Session<Ctx, In, Out>>> {
    return this.#registry.roomsView;
  }

  /** The limits this server enforces, for adapters. */
  get limits(): ServerLimits {
    return {
      maxMessageBytes: this.#settings.inbound.maxMessageBytes,
      idleTimeout: this.#settings.life.idleTimeout,
      highWaterMark: this.#settings.outbound.highWaterMark,
    };
  }

  /** `true` once `shutdown()` was called: new upgrades get 503. */
  get shuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  /** The room history, to share with a server made after this one; none under `history: false`. */
  get history(): History | undefined {
    return this.#publisher.history;
  }

  /** A snapshot of the server-wide counters. */
  get stats(): ServerStats {
    return {
      ...this.#tally,
      sessions: this.#registry.size,
      lingering: this.#registry.lingering,
      handshakes: this.#gate.handshakes,
      abandoned: this.#gate.abandoned,
      rooms: this.#registry.rooms.map.size,
      protocolSessions: this.#heartbeat.size,
      ...historyStats(this.#publisher.history),
    };
  }

  /**
   * Sends a message to every member of a room, encoding it once. Each copy
   * goes through its session's queue and overflow policy. In a room a v1
   * client joined with `$join`, the message gets the room's next sequence
   * number (`{"topic","data","room","seq"}`) and is kept in the history,
   * members or not (PROTOCOL.md).
   *
   * @typeParam K The topic.
   * @param room The room.
   * @param topic The topic.
   * @param data The data.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   * @throws {TypeError} If `data` cannot be serialized, or `validateOutbound` refuses it.
   */
  publish<K extends keyof Out & string>(
    room: string,
    topic: K,
    data: Out[K],
    options?: PublishOptions,
  ): PublishResult {
    return this.#publisher.publish(room, topic, data, this.#registry.skip(options));
  }

  /**
   * Sends bytes as a binary frame to every member of a room. Binary frames
   * carry no envelope: they get no sequence number and are not kept.
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
    return this.#publisher.publishBinary(room, data, this.#registry.skip(options));
  }

  /**
   * Sends a message to the sessions given, encoding it once: for a user's
   * every tab, or any set that is not a room. Sessions of another server
   * or already closed count as `closed`.
   *
   * @typeParam K The topic.
   * @param sessions The recipients.
   * @param topic The topic.
   * @param data The data.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   * @throws {TypeError} If `data` cannot be serialized, or `validateOutbound` refuses it.
   */
  sendTo<K extends keyof Out & string>(
    sessions: Iterable<Session<Ctx, In, Out>>,
    topic: K,
    data: Out[K],
    options?: PublishOptions,
  ): PublishResult {
    const recipients = this.#registry.connectionsOf(sessions);
    return this.#publisher.send(recipients, topic, data, this.#registry.skip(options));
  }

  /**
   * Sends a message to every session, encoding it once.
   *
   * @typeParam K The topic.
   * @param topic The topic.
   * @param data The data.
   * @param options Who to leave out.
   * @returns How many copies were sent, queued, dropped, or met a closing session.
   * @throws {TypeError} If `data` cannot be serialized, or `validateOutbound` refuses it.
   */
  broadcast<K extends keyof Out & string>(
    topic: K,
    data: Out[K],
    options?: PublishOptions,
  ): PublishResult {
    if (this.#registry.size === 0) return this.#publisher.nobody(topic, data);
    return this.#publisher.send(this.#registry.values(), topic, data, this.#registry.skip(options));
  }

  /**
   * Lowers `maxSessions` for good, never raises it: `serve()` from `./deno` applies
   * the descriptor limit. Open sessions stay; upgrades past it get 503 `server-full`.
   *
   * @param max The new cap.
   * @returns The cap in force.
   * @throws {RangeError} If `max` is not a positive integer.
   */
  lowerMaxSessions(max: number): number {
    return this.#gate.lowerMaxSessions(max);
  }

  /**
   * Closes every session with 1001 and refuses new upgrades with 503; calling
   * it again returns the same promise. It does not stop the HTTP server.
   *
   * @param options The close code, reason and how long to wait.
   * @returns A promise that resolves once every session is closed, or once
   *   `timeout` passed and the rest were released.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    return this.#shutdown ??= this.#closeAll(options);
  }

  /**
   * For adapters ({@linkcode AdapterServer.handshake}): the gate and the context factory.
   * @returns The refusal or the handshake; a promise only if the context factory returned one.
   */
  handshake(
    request: Request,
    info: ServeInfo = {},
  ): Handshake<Ctx> | Response | Promise<Handshake<Ctx> | Response> {
    return this.#gate.admit(request, info);
  }

  /** For adapters ({@linkcode AdapterServer.abandon}): a handshake whose socket never opened. */
  abandon(handshake: Handshake<Ctx>): void {
    this.#gate.abandon(handshake);
  }

  /**
   * For adapters ({@linkcode AdapterServer.upgradeFailed}): a handshake the runtime could
   * not upgrade, reported to `onError` and `onRefuse`.
   * @returns The 400 response to answer with.
   */
  upgradeFailed(request: Request, handshake: Handshake<Ctx>, error: unknown): Response {
    this.#gate.abandon(handshake);
    this.#runner.report(error, undefined, request);
    const message = error instanceof Error ? error.message : String(error);
    return this.#gate.refuse(request, 400, "upgrade-failed", `Bad WebSocket handshake: ${message}`);
  }

  /**
   * For adapters: makes the session of a socket that just opened, and
   * calls `onConnect`. During a shutdown the session is closed at once
   * with the shutdown code.
   *
   * @param socket The open socket.
   * @param handshake What {@linkcode Server.handshake} accepted.
   * @param options Whether the adapter reports drains.
   * @returns The connection the adapter reports the socket's events to.
   * @throws {TypeError} If the handshake is not this server's, or was already used.
   */
  open(
    socket: Socket,
    handshake: Handshake<Ctx>,
    options: OpenOptions = {},
  ): AdapterConnection<Ctx, In, Out> {
    const admission = this.#gate.claim(handshake);
    let id = this.#options.generateId?.() ?? crypto.randomUUID();
    if (this.#registry.has(id)) {
      this.#runner.report(new Error(`generateId() returned "${id}", already in use: using a UUID`));
      id = crypto.randomUUID();
    }
    const { ctx, protocol: chosen } = handshake;
    const { drains = false, sendsOnly = false } = options;
    const init = { id, ctx, admission, chosen, drains, sendsOnly };
    const connection = new Connection(this.#host, socket, init);
    const protocol = connection.protocol;
    this.#registry.add(connection);
    this.#tally.opened++;
    if (protocol) this.#heartbeat.add(connection);
    if (this.#shutdown !== undefined) {
      connection.shutdown(CloseCode.GOING_AWAY, "Server shutting down");
    } else {
      if (protocol) connection.hello(encodeHello(id, this.#settings.protocol));
      const onConnect = this.#options.onConnect;
      if (onConnect !== undefined) this.#runner.call(onConnect, connection.session, undefined);
    }
    return connection;
  }

  async #closeAll(
    { code = CloseCode.GOING_AWAY, reason = "Server shutting down", timeout = 5000 }:
      ShutdownOptions,
  ): Promise<void> {
    this.#gate.close();
    this.#heartbeat.stop();
    await this.#registry.closeAll(code, reason, timeout, this.#settings.clock);
    this.#scheduler.stop();
  }

  /** A session is closed: out of the registry, `onClose`. */
  #closed(connection: Connection<Ctx, In, Out>, lingering: boolean): void {
    this.#registry.remove(connection, lingering);
    if (connection.protocol) this.#heartbeat.delete(connection);
    if (!lingering) this.#gate.release(connection.admission);
    this.#tally.closed++;
    const onClose = this.#options.onClose, cause = connection.closeCause!;
    if (onClose !== undefined) this.#runner.call(onClose, connection.session, cause);
  }

  /** A lingering connection is gone at last: its admission goes back to the caps. */
  #disconnected(connection: Connection<Ctx, In, Out>): void {
    this.#registry.gone(connection);
    this.#gate.release(connection.admission);
  }
}
