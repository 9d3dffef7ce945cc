/**
 * The reconnecting, typed client of a switchboard server, for browsers,
 * Deno and Bun, with no dependency and no server code.
 *
 * - **Typed by the server's contract**: `send`, `on` and `request` know
 *   each topic's data and each request's input and output; outgoing data
 *   is checked before it leaves (a `TypeError` at the call site).
 * - **One live socket, ever.** Reconnects only after a close, with full
 *   jitter backoff (`random(0, min(20 s, 500 ms · 2ⁿ))`, `n` reset after
 *   5 s up), a 5 s connect timeout, `params` called before every attempt
 *   (fresh tokens), early on the browser's `online` event and at most
 *   every 20 s while `offline`.
 * - **Close codes 4000 to 4099** from the server mean "do not reconnect":
 *   the client closes for good (`closed` event, `cause: "server"`). An
 *   upgrade the server refuses looks, in a browser, like any failure
 *   (1006): after `maxFailedAttempts` (20) such attempts in a row the
 *   client gives up (`cause: "retries"`).
 * - **A bounded offline queue** (256 messages, 1 MiB): what is sent while
 *   not connected waits in order, requests too (within their timeout).
 *   Every drop is counted (`stats.dropped`) and reported (`drop` event).
 * - **Liveness**: the server's `$hello` gives its heartbeat interval; no
 *   frame within interval + grace closes the socket and reconnects.
 * - **Rooms that resume**: `join(room)` is kept across reconnects; the
 *   client re-joins with its last `{seq, epoch}`, the server replays what
 *   was missed, and the client delivers each room message once and in
 *   order. When the server cannot replay, a `recovery` event says
 *   `recovered: false` with the reason: refetch that room's state. A
 *   sequence that skips is reported as a `gap` event.
 *
 * Requests settle once: with the output, a `ReplyError` (the server's
 * error), a `RequestTimeoutError`, a `ConnectionLostError` (it was in
 * flight when the connection dropped: its reply can no longer come), a
 * `RequestDroppedError` (the queue dropped it) or a `ClientClosedError`.
 *
 * The contract helpers are exported here too, so that a contract file
 * shared by the server and a browser imports nothing of the server.
 *
 * @example A typed client
 * ```ts ignore
 * import { connect } from "@switchboard/ws/client";
 * import { contract } from "./contract.ts"; // defineContract(...), shared with the server
 *
 * const client = connect("wss://chat.example.com/ws", {
 *   contract,
 *   params: async () => ({ token: await freshToken() }),
 * });
 * client.on("said", ({ user, text }, { room }) => show(room, user, text));
 * client.events.on("state", ({ state }) => setBadge(state));
 * client.events.on("recovery", ({ room, recovered, reason }) => {
 *   if (!recovered) reload(room, reason);
 * });
 * await client.join("lobby");
 * client.send("say", { room: "lobby", text: "hello" });
 * const history = await client.request("history", { room: "lobby" }, { timeout: 5_000 });
 * ```
 *
 * @module
 */
export {
  Client,
  connect,
  type JoinOptions,
  type RequestOptions,
  type ServerMessage,
} from "./client.ts";
export {
  ClientClosedError,
  ConnectionLostError,
  ReplyError,
  RequestDroppedError,
  RequestTimeoutError,
} from "./errors.ts";
export type {
  ClientOptions,
  ClientSocket,
  ClientState,
  ClientStats,
  JoinResult,
  LeaveResult,
  NetworkEvents,
  Params,
  ReconnectOptions,
  SendResult,
  WebSocketConstructor,
} from "./options.ts";
export type {
  ClientEventMap,
  ClientEvents,
  ClosedEvent,
  ConnectingEvent,
  DropEvent,
  DuplicateEvent,
  GapEvent,
  InvalidEvent,
  OpenEvent,
  ReconnectingEvent,
  RecoveryEvent,
  RejectedEvent,
  StateEvent,
} from "./events.ts";
export { type Contract, defineContract, type } from "../src/contract.ts";
export type { StandardSchemaV1 } from "../src/standard_schema.ts";
