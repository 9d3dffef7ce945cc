/**
 * An upgrade request that passed the gate and the context factory, waiting
 * for its socket: hand it to `server.open()` once the socket is open, or to
 * `server.abandon()` if it never opens. It holds a place under the session
 * caps until then.
 *
 * Only the server's gate makes one (`server.handshake()`); `server.open()`
 * refuses any other, and each one opens at most one session.
 *
 * @typeParam Ctx The context type.
 *
 * @example An adapter's upgrade path
 * ```ts ignore
 * const handshake = await server.handshake(request, info);
 * if (handshake instanceof Response) return handshake; // refused
 * // ... upgrade; once the socket is open:
 * const connection = server.open(socket, handshake);
 * ```
 */
export class Handshake<Ctx = unknown> {
  /** What the context factory returned. */
  readonly ctx: Ctx;
  /** The chosen subprotocol, if any. */
  readonly protocol: string | undefined;
  /** Makes the type nominal: an object of the same shape is not a handshake. */
  readonly #brand = true;

  /**
   * Made by the server's gate only; `server.open()` refuses a handshake
   * its gate did not make.
   *
   * @param ctx The context.
   * @param protocol The chosen subprotocol.
   */
  constructor(ctx: Ctx, protocol: string | undefined) {
    this.ctx = ctx;
    this.protocol = protocol;
  }
}

/**
 * The checks of RFC 6455 §4.2.1 that the runtimes make differently (Deno
 * lets several through), made here so both answer alike: the status and
 * what is wrong, or `undefined` for a sound handshake.
 */
export function brokenHandshake(request: Request): [400 | 426, string] | undefined {
  if (request.method !== "GET") return [400, `the method must be GET, not ${request.method}`];
  const connection = request.headers.get("connection");
  if (!connection?.split(",").some((option) => option.trim().toLowerCase() === "upgrade")) {
    return [400, "the 'connection' header must contain 'Upgrade'"];
  }
  const key = request.headers.get("sec-websocket-key");
  if (!key) return [400, "the 'sec-websocket-key' header must be set"];
  // One header holding 16 bytes in base64; a repeated header reads "a, b".
  if (!_KEY.test(key)) return [400, "the 'sec-websocket-key' header must be 16 bytes in base64"];
  if (request.headers.get("sec-websocket-version") !== "13") {
    return [426, "the 'sec-websocket-version' header must be 13"];
  }
  return undefined;
}

const _KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;
