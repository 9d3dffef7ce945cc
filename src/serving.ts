/**
 * The HTTP side's types: what the runtime tells about a request
 * ({@linkcode ServeInfo}), how it upgrades one ({@linkcode Upgrade}), and
 * how a refused upgrade is told ({@linkcode Refusal}).
 *
 * @module
 */

/**
 * What the HTTP server knows about the connection; a structural subset of
 * `Deno.ServeHandlerInfo`, filled the same way by the Bun adapter.
 */
export interface ServeInfo {
  /** The client's address, when the runtime gives one. */
  readonly remoteAddr?: {
    readonly hostname?: string;
    readonly port?: number;
    readonly transport?: string;
  };
}

/**
 * An upgrade request refused before the upgrade, as `onRefuse` gets it.
 *
 * | reason | status | when |
 * | --- | --- | --- |
 * | `"shutting-down"` | 503 | during `shutdown()` |
 * | `"bad-handshake"` | 400 | a broken WebSocket handshake |
 * | `"origin"` | 403 | an `Origin` that `origins` does not allow |
 * | `"server-full"` | 503 | `maxSessions` reached |
 * | `"client-full"` | 429 | `maxSessionsPerClient` reached for the client's key |
 * | `"context"` | the factory's | the context factory refused (a `Response` or an `HttpError`) |
 * | `"context-timeout"` | 503 | the context factory ran past `handshakeTimeout` |
 * | `"context-error"` | 500 | the context factory threw something else (also reported to `onError`) |
 * | `"upgrade-failed"` | 400 | the runtime refused the upgrade (also reported to `onError`) |
 * | `"upgrade-failed"` | 500 | `Bun.serve({ fetch: server.fetch })`: served without the Bun adapter (also `onError`) |
 */
export interface Refusal {
  /** The response's HTTP status. */
  readonly status: number;
  /** Why, as a stable code. */
  readonly reason:
    | "shutting-down"
    | "bad-handshake"
    | "origin"
    | "server-full"
    | "client-full"
    | "context"
    | "context-timeout"
    | "context-error"
    | "upgrade-failed";
  /** A sentence for a log: the response body, or the factory's own message. */
  readonly message: string;
}

/**
 * Upgrades an HTTP request to a standard server-side `WebSocket`, like
 * `Deno.upgradeWebSocket` (the default on Deno).
 *
 * @param request The upgrade request.
 * @param options The subprotocol to answer with, and the idle timeout in seconds.
 * @returns The 101 response to return and the socket.
 */
export type Upgrade = (
  request: Request,
  options: { protocol?: string; idleTimeout: number },
) => { response: Response; socket: WebSocket };
