import type { Connection, Handshake, Server } from "./server.ts";

/**
 * Upgrades an HTTP request to a standard server-side `WebSocket`, like
 * `Deno.upgradeWebSocket`.
 *
 * @param request The upgrade request.
 * @param options The subprotocol to answer with, and the idle timeout in seconds.
 * @returns The 101 response to return and the socket.
 */
export type Upgrade = (
  request: Request,
  options: { protocol?: string; idleTimeout: number },
) => { response: Response; socket: WebSocket };

/** The default {@linkcode Upgrade}: `Deno.upgradeWebSocket`. */
export function upgradeWithDeno(
  request: Request,
  options: { protocol?: string; idleTimeout: number },
): { response: Response; socket: WebSocket } {
  const deno = (globalThis as { Deno?: { upgradeWebSocket?: unknown } }).Deno;
  if (typeof deno?.upgradeWebSocket !== "function") {
    throw new TypeError(
      "Cannot upgrade: Deno.upgradeWebSocket is not available; on Bun use @switchboard/ws/bun",
    );
  }
  return Deno.upgradeWebSocket(request, options);
}

/**
 * Wires a standard `WebSocket`'s events to a server: the session opens on
 * `open`, and messages, errors and the close are reported to its connection.
 * One listener object per socket, no closures.
 */
export function attachWebSocket<Ctx, In extends object, Out extends object>(
  server: Server<Ctx, In, Out>,
  socket: WebSocket,
  handshake: Handshake<Ctx>,
): void {
  socket.binaryType = "arraybuffer";
  const bridge = new _Bridge(server, socket, handshake);
  socket.addEventListener("open", bridge);
  socket.addEventListener("message", bridge);
  socket.addEventListener("error", bridge);
  socket.addEventListener("close", bridge);
}

class _Bridge<Ctx, In extends object, Out extends object> implements EventListenerObject {
  #server: Server<Ctx, In, Out> | undefined;
  #handshake: Handshake<Ctx> | undefined;
  readonly #socket: WebSocket;
  #connection: Connection<Ctx, In, Out> | undefined;

  constructor(server: Server<Ctx, In, Out>, socket: WebSocket, handshake: Handshake<Ctx>) {
    this.#server = server;
    this.#socket = socket;
    this.#handshake = handshake;
  }

  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        this.#connection?.message((event as MessageEvent).data);
        break;
      case "open":
        this.#connection = this.#server!.open(this.#socket, this.#handshake!);
        this.#server = undefined;
        this.#handshake = undefined;
        break;
      case "error":
        this.#connection?.error((event as ErrorEvent).error ?? event);
        break;
      case "close": {
        // Deno reports a connection lost without a close frame as code 0.
        const { code, reason } = event as CloseEvent;
        this.#connection?.close(code === 0 ? 1006 : code, reason);
        break;
      }
    }
  }
}
