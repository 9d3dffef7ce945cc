/**
 * Fixtures of the protocol v1 unit tests (`heartbeat_test.ts`,
 * `client_rooms_test.ts`): a server on {@linkcode FakeTimers} whose
 * `onError` calls are kept, v1 sessions on the fake socket, and readers of
 * what a session was sent.
 *
 * @module
 */
import type { ServerOptions } from "../src/options.ts";
import { V1_BATCH_PROTOCOL, V1_PROTOCOL } from "../src/protocol.ts";
import { Server } from "../src/server.ts";
import type { EventMap } from "../src/topics.ts";
import { type FakeSocket, FakeTimers, type Opened, openSession } from "./_fake_socket.ts";

/** What {@linkcode v1Server} returns. */
export interface V1Setup {
  /** The server. */
  readonly server: Server<undefined, EventMap, EventMap>;
  /** Its timers. */
  readonly timers: FakeTimers;
  /** Every error `onError` got. */
  readonly errors: unknown[];
  /**
   * Opens a session that negotiated protocol v1 (or the one given).
   *
   * @param protocol The subprotocol the client offers.
   * @returns The socket, the connection and the session.
   */
  open(protocol?: string): Promise<Opened<undefined, EventMap, EventMap>>;
}

/**
 * Builds a server on fake timers, every close reported at once.
 *
 * @param options The server's options, over the defaults.
 * @param timers The timers, to share between servers.
 * @returns The server, its timers, its errors and `open`.
 */
export function v1Server(
  options: ServerOptions<undefined, EventMap, EventMap> = {},
  timers: FakeTimers = new FakeTimers(),
): V1Setup {
  const errors: unknown[] = [];
  const server = new Server<undefined, EventMap, EventMap>({
    timers,
    maxSessionsPerClient: Infinity,
    onError: (error) => void errors.push(error),
    ...options,
  });
  return {
    server,
    timers,
    errors,
    open: (protocol = V1_PROTOCOL) => openSession(server, { protocol, closeReport: "sync" }),
  };
}

/** The subprotocols of v1. */
export const V1 = { plain: V1_PROTOCOL, batch: V1_BATCH_PROTOCOL } as const;

/** A frame's envelopes, as JSON (a batch frame holds several). */
// deno-lint-ignore no-explicit-any
export type Json = any;

/**
 * Every envelope the socket was sent, in order, batch frames unrolled.
 *
 * @param socket The fake socket.
 * @returns The envelopes.
 */
export function envelopes(socket: FakeSocket): Json[] {
  return socket.texts().flatMap((value) => Array.isArray(value) ? value : [value]);
}

/**
 * The topics of what the socket was sent, in order.
 *
 * @param socket The fake socket.
 * @returns The topics.
 */
export function topics(socket: FakeSocket): string[] {
  return envelopes(socket).map((envelope) => envelope.topic);
}

/**
 * Sends a request of the client as a frame.
 *
 * @param opened The session.
 * @param topic `$join`, `$leave`, or another.
 * @param id The request id.
 * @param data The input.
 */
export function request(
  opened: Opened<undefined, EventMap, EventMap>,
  topic: string,
  id: unknown,
  data: unknown,
): void {
  opened.connection.message(JSON.stringify({ topic, id, data }));
}

/**
 * The `$reply` with this id the socket was sent.
 *
 * @param socket The fake socket.
 * @param id The request id.
 * @returns The reply, or `undefined`.
 */
export function reply(socket: FakeSocket, id: number): Json {
  return envelopes(socket).find((e) => e.topic === "$reply" && e.id === id);
}

/** Resolves after the pending promise callbacks (an async hook's `then`). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
