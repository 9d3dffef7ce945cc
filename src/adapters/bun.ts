/**
 * Serves a switchboard {@linkcode Server} with `Bun.serve`.
 *
 * {@linkcode bunAdapter} turns a server into the `fetch` and `websocket`
 * options of `Bun.serve`. The same gate, context factory, session queues,
 * rooms and shutdown run as on Deno; only the socket underneath changes.
 * Bun is typed here with small structural interfaces, so this module needs
 * neither `bun-types` nor a Bun runtime to type-check, and Deno users of
 * `@switchboard/ws` never load it.
 *
 * @example Serving a chat on Bun
 * ```ts ignore
 * import { Server } from "@switchboard/ws";
 * import { bunAdapter } from "@switchboard/ws/bun";
 *
 * const server = new Server({
 *   onConnect(session) {
 *     session.rooms.join("lobby");
 *   },
 *   onMessage(session, message) {
 *     server.publish("lobby", message.topic, message.data, { except: session });
 *   },
 * });
 * const bun = Bun.serve({ port: 8080, ...bunAdapter(server) });
 * // ... later
 * await server.shutdown();
 * await bun.stop();
 * ```
 *
 * @module
 */
import type { AdapterServer, Handshake, ServeInfo } from "../adapter.ts";
import { BunLink, type BunServerWebSocket } from "./_bun_link.ts";
import { IdleWatch } from "./_idle_watch.ts";

export type { BunServerWebSocket };

/** A client address, as Bun's `server.requestIP(request)` returns it. */
export interface BunSocketAddress {
  /** The IP address, e.g. `"127.0.0.1"` or `"::ffff:127.0.0.1"`. */
  readonly address: string;
  /** The client's port. */
  readonly port: number;
  /** `"IPv4"` or `"IPv6"`. */
  readonly family: string;
}

/** The part of Bun's `Server` the adapter uses: the second argument of `fetch`. */
export interface BunServer {
  /**
   * Upgrades a request to a WebSocket; `open` runs before it returns.
   *
   * @param request The upgrade request.
   * @param options The socket's `data` and extra response headers.
   * @returns `true` if upgraded, `false` if the request could not be.
   */
  upgrade(request: Request, options: { data: unknown; headers?: Record<string, string> }): boolean;
  /**
   * Tells who sent a request.
   *
   * @param request The request.
   * @returns The client's address, or `null` if unknown (a Unix socket).
   */
  requestIP(request: Request): BunSocketAddress | null;
}

/** The `websocket` option of `Bun.serve` that {@linkcode bunAdapter} returns. */
export interface BunWebSocketHandler {
  /**
   * Opens the session of a socket that Bun just upgraded.
   *
   * @param ws The socket.
   */
  open(ws: BunServerWebSocket): void;
  /**
   * Hands a message to the session.
   *
   * @param ws The socket.
   * @param message A string for a text frame, bytes for a binary one.
   */
  message(ws: BunServerWebSocket, message: string | Uint8Array): void;
  /**
   * Flushes the session's send queue once Bun has written out some of its buffer.
   *
   * @param ws The socket.
   */
  drain(ws: BunServerWebSocket): void;
  /**
   * Reports the close to the session.
   *
   * @param ws The socket.
   * @param code The close code Bun reports.
   * @param reason The close reason Bun reports.
   */
  close(ws: BunServerWebSocket, code: number, reason: string): void;
  /**
   * Counts a pong as a sign of life, for the idle timeout.
   *
   * @param ws The socket.
   */
  pong(ws: BunServerWebSocket): void;
  /** The server's `maxMessageBytes`: Bun closes with 1009 above it. */
  readonly maxPayloadLength: number;
  /** The server's `idleTimeout`, in whole seconds. */
  readonly idleTimeout: number;
  /** The server's `highWaterMark`, so Bun never drops a frame the session sends. */
  readonly backpressureLimit: number;
  /** `false`: the session's queue and overflow policy handle slow clients. */
  readonly closeOnBackpressureLimit: false;
  /** `true`: Bun pings idle clients, as Deno does. */
  readonly sendPings: true;
  /** `false`: no compression, as on Deno. */
  readonly perMessageDeflate: false;
}

/** What {@linkcode bunAdapter} returns: the options to spread into `Bun.serve`. */
export interface BunServeOptions {
  /**
   * Answers a request: upgrades it if it is a WebSocket request that passes
   * the server's gate and context factory, else answers like `server.fetch`.
   *
   * @param request The HTTP request.
   * @param server Bun's server.
   * @returns `undefined` once upgraded (Bun sends the 101), or the response;
   *   at once unless the context factory returned a promise.
   */
  fetch(
    request: Request,
    server: BunServer,
  ): Response | undefined | Promise<Response | undefined>;
  /** The WebSocket handlers and limits. */
  readonly websocket: BunWebSocketHandler;
}

/**
 * Turns a {@linkcode Server} into the `fetch` and `websocket` options of
 * `Bun.serve`, so that a Bun user gets what a Deno user gets:
 *
 * - Requests that are not WebSocket upgrades go to `server.fetch` (the
 *   `fallback`, or 426).
 * - An upgrade runs the server's gate and context factory first; a refusal
 *   is answered with its HTTP status and no upgrade happens. Bun then sends
 *   the 101 with the chosen subprotocol, or with none if the server chose
 *   none (Bun by itself would echo the client's first offer).
 * - Each socket gets a session with the same send queue and overflow policy:
 *   the session writes while Bun buffers fewer than `highWaterMark` bytes,
 *   and Bun's `drain` flushes the rest.
 * - Bun's limits follow the server's: `maxPayloadLength` is
 *   `maxMessageBytes` (a larger message closes with 1009), `idleTimeout` is
 *   the server's, and `backpressureLimit` is `highWaterMark`.
 * - The idle timeout is also kept here, as Deno keeps it: Bun re-arms its
 *   own on every frame the server sends (heartbeats, room messages), so a
 *   peer gone silent behind a dead proxy would stay forever. A socket that
 *   sent nothing (no pong either) for half `idleTimeout` is pinged, and
 *   closed with 1001 (cause `"timeout"`) if nothing comes back by the next
 *   half: between `idleTimeout` and 1.5 × `idleTimeout` after its last
 *   inbound frame. One timer walks the sockets.
 * - A close reaches `onClose` with the code and reason Bun reports. Where
 *   Bun closed the socket itself it reports 1006 with a reason; the cause's
 *   `kind` then says why: `"too-large"` (with code 1009, as the client got
 *   it), `"timeout"`, or `"error"`.
 *
 * To stop, call `await server.shutdown()`, which closes every session with
 * 1001 and resolves once all are closed, then `await bun.stop()`.
 *
 * @typeParam Ctx The server's context type.
 * @typeParam In The server's inbound event map.
 * @typeParam Out The server's outbound event map.
 * @param server The server to serve.
 * @returns The `fetch` and `websocket` options for `Bun.serve`.
 * @throws {RangeError} If the server's `idleTimeout` is over 960 seconds, Bun's maximum.
 *
 * @example Usage
 * ```ts ignore
 * import { Server } from "@switchboard/ws";
 * import { bunAdapter } from "@switchboard/ws/bun";
 *
 * const server = new Server({
 *   onMessage(session, message) {
 *     session.send("echo", message.data);
 *   },
 * });
 * const bun = Bun.serve({ port: 0, ...bunAdapter(server) });
 * console.log(`ws://localhost:${bun.port}`);
 * // ... later
 * await server.shutdown();
 * await bun.stop();
 * ```
 */
export function bunAdapter<Ctx>(server: AdapterServer<Ctx>): BunServeOptions {
  const limits = server.limits;
  const idleTimeout = Math.ceil(limits.idleTimeout);
  if (idleTimeout > _MAX_IDLE_TIMEOUT) {
    throw new RangeError(
      `Cannot serve on Bun: "idleTimeout" must be at most ${_MAX_IDLE_TIMEOUT} seconds, got ${limits.idleTimeout}`,
    );
  }
  const watch = idleTimeout > 0 ? new IdleWatch(idleTimeout) : undefined;
  return {
    fetch(
      request: Request,
      bun: BunServer,
    ): Response | undefined | Promise<Response | undefined> {
      const ip = bun.requestIP(request);
      const info: ServeInfo = ip === null
        ? {}
        : { remoteAddr: { hostname: ip.address, port: ip.port, transport: "tcp" } };
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return server.fetch(request, info);
      }
      // Upgraded in this call unless the context factory is async: an
      // upgrade after an `await` keeps ~0.2 KB more per socket on Bun.
      const handshake = server.handshake(request, info);
      return handshake instanceof Promise
        ? _upgradeLater(server, bun, request, handshake)
        : _upgrade(server, bun, request, handshake);
    },
    websocket: {
      open(ws: BunServerWebSocket): void {
        const link = ws.data as BunLink<Ctx>;
        link.open(ws, server);
        if (watch !== undefined && link.connection !== undefined) watch.add(link);
      },
      message(ws: BunServerWebSocket, message: string | Uint8Array): void {
        const link = ws.data as BunLink<Ctx>;
        link.quiet = 0;
        link.connection?.message(message as string | Uint8Array<ArrayBuffer>);
      },
      drain(ws: BunServerWebSocket): void {
        (ws.data as BunLink<Ctx>).connection?.drain();
      },
      close(ws: BunServerWebSocket, code: number, reason: string): void {
        const link = ws.data as BunLink<Ctx>;
        watch?.delete(link);
        link.closed(code, reason);
      },
      pong(ws: BunServerWebSocket): void {
        (ws.data as BunLink<Ctx>).quiet = 0;
      },
      maxPayloadLength: Math.floor(limits.maxMessageBytes),
      idleTimeout,
      backpressureLimit: Math.ceil(limits.highWaterMark),
      closeOnBackpressureLimit: false,
      sendPings: true,
      perMessageDeflate: false,
    },
  };
}

const _MAX_IDLE_TIMEOUT = 960;

/** {@linkcode _upgrade} once an async context factory decided (a function of its own: see `HookRunner`). */
function _upgradeLater<Ctx>(
  server: AdapterServer<Ctx>,
  bun: BunServer,
  request: Request,
  handshake: Promise<Handshake<Ctx> | Response>,
): Promise<Response | undefined> {
  return handshake.then((answer) => _upgrade(server, bun, request, answer));
}

/** Upgrades an accepted request (Bun sends the 101), or answers a refusal. */
function _upgrade<Ctx>(
  server: AdapterServer<Ctx>,
  bun: BunServer,
  request: Request,
  handshake: Handshake<Ctx> | Response,
): Response | undefined {
  if (handshake instanceof Response) return handshake;
  let upgraded: boolean;
  try {
    upgraded = bun.upgrade(request, {
      data: new BunLink(handshake),
      headers: handshake.protocol === undefined
        ? _NO_PROTOCOL
        : { "Sec-WebSocket-Protocol": handshake.protocol },
    });
  } catch (error) {
    return server.upgradeFailed(request, handshake, error);
  }
  if (upgraded) return undefined;
  return server.upgradeFailed(request, handshake, new Error("Bun refused the upgrade"));
}

/**
 * Sent when the server chose no subprotocol. An empty value makes Bun send
 * no `Sec-WebSocket-Protocol` header at all; without it Bun would echo the
 * client's first offer, which Deno never does.
 */
const _NO_PROTOCOL: Record<string, string> = Object.freeze({ "Sec-WebSocket-Protocol": "" });
