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
