/**
 * The contract between a {@linkcode Server} and a runtime adapter: what an
 * adapter hands the server (a {@linkcode Socket} per connection) and what it
 * calls on it ({@linkcode AdapterServer}). Deno needs no adapter; Bun's is
 * `@switchboard/ws/bun`. A third-party adapter for another runtime is
 * written against this module alone, through the same doors the package's
 * own adapters use:
 *
 * 1. `await server.handshake(request, info)`: the gate and the context
 *    factory. A `Response` is a refusal to send as it is; a
 *    {@linkcode Handshake} is an accepted upgrade. The answer is a promise
 *    only if the context factory returned one, so an adapter can upgrade
 *    in the request handler's own call (the Bun adapter does).
 * 2. Upgrade the request with the runtime. If that fails, answer with
 *    `server.upgradeFailed(request, handshake, error)`.
 * 3. Once the socket is open, `server.open(socket, handshake)` makes the
 *    session and returns its {@linkcode Connection}: report the socket's
 *    messages, errors, drains and close there. If the socket closes before
 *    it opened, call `server.abandon(handshake)`.
 *
 * Every handshake holds a place under the session caps until it is opened
 * or abandoned; the place passes to the session and is given back when the
 * runtime reports the connection closed.
 *
 * It also holds the contract a room history fills ({@linkcode History}, as
 * the Redis backplane will) and the in-process one,
 * {@linkcode MemoryHistory}, which a server makes by itself (`history`
 * option) and which servers started one after the other may share.
 *
 * @example A minimal adapter over a standard `WebSocket`
 * ```ts ignore
 * import type { AdapterServer } from "@switchboard/ws/adapter";
 *
 * async function serve(server: AdapterServer, request: Request, socket: WebSocket) {
 *   const handshake = await server.handshake(request, {});
 *   if (handshake instanceof Response) return handshake;
 *   socket.onopen = () => {
 *     const connection = server.open(socket, handshake);
 *     socket.onmessage = (e) => connection.message(e.data);
 *     socket.onclose = (e) => connection.close(e.code, e.reason);
 *   };
 * }
 * ```
 *
 * @module
 */
import type { Handshake } from "./handshake.ts";
import type { ServeInfo } from "./serving.ts";
import type { CloseCause, Session } from "./session.ts";
import type { Socket } from "./socket.ts";

export { Handshake } from "./handshake.ts";
export {
  type History,
  type HistoryEntry,
  type HistoryOptions,
  type HistoryStats,
  MemoryHistory,
  type Recovery,
  type RoomPosition,
} from "./history.ts";
export type { ServeInfo, Upgrade } from "./serving.ts";
export type { Socket } from "./socket.ts";

/** Options of `server.open()`. */
export interface OpenOptions {
  /**
   * `true` if the adapter calls {@linkcode Connection.drain} when the socket
   * can take more; otherwise the server polls congested sockets.
   * @default {false}
   */
  drains?: boolean;
  /**
   * `true` if the socket's `bufferedAmount` grows only by the frames the
   * session sends (and the runtime's own control frames), as Deno's and
   * Bun's do: the session then keeps an upper bound of it, and reads it (a
   * call into the runtime) only once that bound reaches `highWaterMark`.
   * Leave it `false` for a socket whose buffer can grow otherwise (a fake
   * socket whose test sets it).
   * @default {false}
   */
  sendsOnly?: boolean;
}

/**
 * The runtime's side of one session: an adapter reports the socket's events
 * here. Made by `server.open()`.
 *
 * @typeParam Ctx The context type.
 * @typeParam In The inbound event map.
 * @typeParam Out The outbound event map.
 */
export interface Connection<
  Ctx = unknown,
  In extends object = Record<string, unknown>,
  Out extends object = Record<string, unknown>,
> {
  /** The session. */
  readonly session: Session<Ctx, In, Out>;
  /**
   * A message arrived.
   *
   * @param data A string for a text frame, bytes for a binary one.
   */
  message(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void;
  /**
   * The socket reported an error; its close follows.
   *
   * @param error The runtime's error.
   */
  error(error: unknown): void;
  /** The socket can take more data. */
  drain(): void;
  /**
   * The socket closed with this code and reason. An adapter that knows why
   * the runtime closed it (its own size limit, its idle timeout) says so in
   * `kind`; otherwise the session infers it.
   *
   * @param code The close code.
   * @param reason The close reason.
   * @param kind Why the runtime closed it, if it did.
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

/**
 * What an adapter calls on a server: the one way in, for the package's own
 * adapters, third-party ones and tests alike. `Server` implements it.
 *
 * @typeParam Ctx The context type.
 * @typeParam In The inbound event map.
 * @typeParam Out The outbound event map.
 */
// deno-lint-ignore no-explicit-any
export interface AdapterServer<Ctx = any, In extends object = any, Out extends object = any> {
  /** The limits to configure the runtime with. */
  readonly limits: ServerLimits;
  /**
   * Answers a request that is not an upgrade (the `fallback`, else 426).
   *
   * @param request The request.
   * @param info The connection info.
   * @returns The response.
   */
  fetch(request: Request, info?: ServeInfo): Promise<Response>;
  /**
   * Runs the gate and the context factory on an upgrade request.
   *
   * @param request The upgrade request.
   * The answer is synchronous unless the context factory returned a
   * promise: a runtime that can upgrade only inside its request handler's
   * own call, or keeps less per socket that way (Bun), upgrades at once when
   * the answer is not a `Promise`. `await` works either way.
   *
   * @param info The connection info; its remote address is the default client key.
   * @returns The accepted handshake, or the refusal to answer with; a
   *   promise of one only if the context factory returned a promise.
   */
  handshake(
    request: Request,
    info?: ServeInfo,
  ): Handshake<Ctx> | Response | Promise<Handshake<Ctx> | Response>;
  /**
   * Makes the session of a socket that just opened, and calls `onConnect`.
   *
   * @param socket The open socket.
   * @param handshake What `handshake()` accepted; each opens one session.
   * @param options Whether the adapter reports drains.
   * @returns Where the adapter reports the socket's events.
   * @throws {TypeError} If the handshake is not this server's, or was already used.
   */
  open(
    socket: Socket,
    handshake: Handshake<Ctx>,
    options?: OpenOptions,
  ): Connection<Ctx, In, Out>;
  /**
   * Gives back a handshake whose socket never opened (the client left
   * before `open`). Idempotent.
   *
   * @param handshake What `handshake()` accepted.
   */
  abandon(handshake: Handshake<Ctx>): void;
  /**
   * Gives back a handshake the runtime could not upgrade, reports the
   * error to `onError` and the refusal to `onRefuse`.
   *
   * @param request The upgrade request.
   * @param handshake What `handshake()` accepted.
   * @param error Why the runtime refused.
   * @returns The 400 response to answer with.
   */
  upgradeFailed(request: Request, handshake: Handshake<Ctx>, error: unknown): Response;
}
