import { CloseCode } from "./close_codes.ts";
import { _openSession, type Handshake, type Server } from "./server.ts";
import { _sessionDriver, type Session } from "./session.ts";

const _driver = _sessionDriver();

/** The reason Deno gives when it closes a socket for its idle timeout. */
const _NO_PONG = "No response from ping frame.";

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
 * `open`, and messages and the close reach it. Deno's close event alone
 * tells an idle timeout or a lost connection apart, so there is no `error`
 * listener. One listener object per socket, no closures.
 */
export function attachWebSocket<Ctx, In extends object, Out extends object>(
  server: Server<Ctx, In, Out>,
  socket: WebSocket,
  handshake: Handshake<Ctx>,
): void {
  socket.binaryType = "arraybuffer";
  const bridge = new _Bridge(server, socket, handshake);
  // Three listeners, the open one released once it fired: an idle session
  // holds no more listener records than a hand-written server.
  socket.addEventListener("open", bridge, { once: true });
  socket.addEventListener("message", bridge);
  socket.addEventListener("close", bridge);
}

class _Bridge<Ctx, In extends object, Out extends object> implements EventListenerObject {
  #server: Server<Ctx, In, Out> | undefined;
  #handshake: Handshake<Ctx> | undefined;
  readonly #socket: WebSocket;
  #session: Session<Ctx, In, Out> | undefined;

  constructor(server: Server<Ctx, In, Out>, socket: WebSocket, handshake: Handshake<Ctx>) {
    this.#server = server;
    this.#socket = socket;
    this.#handshake = handshake;
  }

  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        if (this.#session !== undefined) {
          _driver.receive(this.#session, (event as MessageEvent).data);
        }
        break;
      case "open":
        this.#session = _openSession(this.#server!, this.#socket, this.#handshake!, {});
        this.#server = undefined;
        this.#handshake = undefined;
        break;
      case "close": {
        const session = this.#session;
        if (session === undefined) {
          this.#server?.abandon(this.#handshake!); // closed before it opened
          return;
        }
        const { code, reason, wasClean } = event as CloseEvent;
        if (code === 0) {
          // Deno's code for a connection lost without a close frame.
          _driver.closed(session, CloseCode.ABNORMAL, reason, "error");
        } else if (!wasClean && reason === _NO_PONG) {
          _driver.closed(session, code, reason, "timeout");
        } else {
          _driver.closed(session, code, reason, undefined);
        }
        break;
      }
    }
  }
}
