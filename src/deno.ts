import type { AdapterServer, Connection, Handshake } from "./adapter.ts";
import { CloseCode } from "./close_codes.ts";

/** A Deno WebSocket's buffer grows only by what is sent. */
const _OPEN_OPTIONS = Object.freeze({ sendsOnly: true });
/** The reason Deno gives when it closes a socket for its idle timeout. */
const _NO_PONG = "No response from ping frame.";

/**
 * The default upgrade: `Deno.upgradeWebSocket`.
 *
 * @throws {TypeError} Outside Deno: on Bun, serve through `@switchboard/ws/bun`.
 */
export function upgradeWithDeno(
  request: Request,
  options: { protocol?: string; idleTimeout: number },
): { response: Response; socket: WebSocket } {
  const deno = (globalThis as { Deno?: { upgradeWebSocket?: unknown } }).Deno;
  if (typeof deno?.upgradeWebSocket !== "function") {
    throw new TypeError(
      "Cannot upgrade: Deno.upgradeWebSocket is not available; on Bun, serve with " +
        "Bun.serve({ ...bunAdapter(server) }) from @switchboard/ws/bun",
    );
  }
  return Deno.upgradeWebSocket(request, options);
}

/**
 * Wires a standard `WebSocket`'s events to a server: the session opens on
 * `open` through `server.open()`, and messages and the close reach its
 * connection. Deno's close event alone tells an idle timeout or a lost
 * connection apart, so there is no `error` listener. One listener object
 * per socket, no closures.
 */
export function attachWebSocket<Ctx>(
  server: Pick<AdapterServer<Ctx>, "open" | "abandon">,
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

class _Bridge<Ctx> implements EventListenerObject {
  #server: Pick<AdapterServer<Ctx>, "open" | "abandon"> | undefined;
  #handshake: Handshake<Ctx> | undefined;
  readonly #socket: WebSocket;
  #connection: Connection<Ctx> | undefined;

  constructor(
    server: Pick<AdapterServer<Ctx>, "open" | "abandon">,
    socket: WebSocket,
    handshake: Handshake<Ctx>,
  ) {
    this.#server = server;
    this.#socket = socket;
    this.#handshake = handshake;
  }

  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        this.#connection?.message((event as MessageEvent).data);
        break;
      case "open": {
        const server = this.#server!, handshake = this.#handshake!;
        this.#server = undefined;
        this.#handshake = undefined;
        try {
          this.#connection = server.open(this.#socket, handshake, _OPEN_OPTIONS);
        } catch {
          // Opened after its handshake was given back (later than
          // `handshakeTimeout`): it holds no place under the caps.
          this.#socket.close(CloseCode.TRY_AGAIN_LATER, "Handshake expired");
        }
        break;
      }
      case "close": {
        const connection = this.#connection;
        if (connection === undefined) {
          this.#server?.abandon(this.#handshake!); // closed before it opened
          this.#server = undefined;
          this.#handshake = undefined;
          return;
        }
        this.#connection = undefined;
        const { code, reason, wasClean } = event as CloseEvent;
        if (code === 0) {
          // Deno's code for a connection lost without a close frame.
          connection.close(CloseCode.ABNORMAL, reason, "error");
        } else if (!wasClean && reason === _NO_PONG) {
          connection.close(code, reason, "timeout");
        } else {
          connection.close(code, reason);
        }
        break;
      }
    }
  }
}
