/**
 * switchboard: typed, bounded WebSocket servers for Deno and Bun.
 *
 * A {@linkcode Server} authenticates in a context factory *before* the
 * upgrade, keeps a registry of {@linkcode Session}s with rooms, publishes to
 * a room with one serialization, and shuts down gracefully. Each session has
 * a bounded send queue with an overflow policy, so a slow client cannot grow
 * the server's memory, and every dropped message is counted.
 *
 * Text frames carry a JSON envelope `{"topic": string, "data": any}`, so a
 * browser talks to the server with `JSON.stringify` (the wire format is
 * written down in PROTOCOL.md). A {@linkcode defineContract | contract} of
 * Standard Schema objects (Zod, Valibot, ArkType, or written by hand) types
 * the topics both ways, checks every inbound message before a handler sees
 * it, and adds requests answered with a `$reply`. On Bun, use the adapter
 * in `@switchboard/ws/bun`; the interface for adapters of other runtimes is
 * `@switchboard/ws/adapter`.
 *
 * @example A room chat on Deno
 * ```ts
 * import { HttpError, Server } from "@switchboard/ws";
 *
 * const server = new Server({
 *   context(request) {
 *     const user = new URL(request.url).searchParams.get("user");
 *     if (!user) throw new HttpError(401, "Missing user");
 *     return { user };
 *   },
 *   onConnect(session) {
 *     session.rooms.join("lobby");
 *     server.publish("lobby", "joined", session.ctx.user, { except: session });
 *   },
 *   onMessage(session, message) {
 *     if (message.topic === "say") {
 *       server.publish("lobby", "said", { user: session.ctx.user, text: message.data });
 *     }
 *   },
 *   onClose(session, cause) {
 *     server.publish("lobby", "left", { user: session.ctx.user, why: cause.kind });
 *   },
 * });
 *
 * const http = Deno.serve({ port: 0, onListen() {} }, server.fetch);
 * // ... later
 * await server.shutdown();
 * await http.shutdown();
 * ```
 *
 * @module
 */
export { CloseCode } from "./src/close_codes.ts";
export { type Contract, defineContract, type } from "./src/contract.ts";
export { EnvelopeError, HttpError, QueueFullError, SessionClosedError } from "./src/errors.ts";
export type { Refusal, ServerOptions, ShutdownOptions } from "./src/options.ts";
export {
  BATCH_PROTOCOL,
  decodeEnvelope,
  decodeFrame,
  encodeEnvelope,
  type Envelope,
  ERROR_TOPIC,
} from "./src/protocol.ts";
export type { PublishOptions, PublishResult } from "./src/fanout.ts";
export { RequestError } from "./src/requests.ts";
export { Server } from "./src/server.ts";
export {
  type CloseCause,
  type DropInfo,
  type SendResult,
  Session,
  type SessionRooms,
  type SessionStats,
} from "./src/session.ts";
export type { StandardSchemaV1 } from "./src/standard_schema.ts";
export type { ServerStats } from "./src/stats.ts";
export type { Message } from "./src/topics.ts";
