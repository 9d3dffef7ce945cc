import { Engine } from "./_engine.ts";
import { checkTimeout, resolveSettings } from "./_settings.ts";
import { utf8Length } from "./_wire.ts";
import type {
  ClientOptions,
  ClientState,
  ClientStats,
  JoinResult,
  LeaveResult,
  SendResult,
} from "./options.ts";
import type { ClientEvents } from "./events.ts";

/**
 * A message from the server, as a handler of {@linkcode Client.on} gets it.
 *
 * @typeParam Topic The topic.
 * @typeParam Data The data's type.
 *
 * @example Usage
 * ```ts ignore
 * client.on("said", (data, { room, seq }) => console.log(room, seq, data));
 * ```
 */
export interface ServerMessage<Topic extends string = string, Data = unknown> {
  /** The topic. */
  readonly topic: Topic;
  /** The data, as received. */
  readonly data: Data;
  /** The room it was published to, for a room message. */
  readonly room?: string;
  /** Its sequence number in the room (servers with history). */
  readonly seq?: number;
}

/**
 * Options of one {@linkcode Client.request}.
 *
 * @example Usage
 * ```ts ignore
 * const profile = await client.request("profile", { id: 7 }, { timeout: 2_000 });
 * ```
 */
export interface RequestOptions {
  /**
   * How long to wait for the reply, in ms, waiting in the offline queue
   * included.
   * @default {the client's requestTimeout (10_000)}
   */
  timeout?: number;
}

/**
 * Options of one {@linkcode Client.join}.
 *
 * @example Usage
 * ```ts ignore
 * await client.join("lobby", { timeout: 2_000 }); // the room is kept even if this times out
 * ```
 */
export interface JoinOptions {
  /**
   * How long the promise waits for the server's answer, in ms. Its
   * timeout rejects the promise only: the client keeps the room and
   * joins it when it can, until {@linkcode Client.leave}.
   * @default {the client's requestTimeout (10_000)}
   */
  timeout?: number;
}

/**
 * A reconnecting WebSocket client of a switchboard server, typed by the
 * server's contract. Made by {@linkcode connect}.
 *
 * It keeps exactly one live socket and reconnects with full-jitter
 * backoff; messages and requests made while it is not connected wait in
 * a bounded offline queue; the rooms it joined are re-joined after a
 * reconnect and resumed from where it left off, or reported as not
 * recovered. See the module's documentation for the whole picture.
 *
 * @typeParam In Each client topic's data.
 * @typeParam Out Each server topic's data.
 * @typeParam Req Each request's input and output.
 *
 * @example Offline: messages wait, bounded, and every drop is counted
 * ```ts
 * import { Client, type ClientSocket } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * // A stand-in WebSocket that never connects (tests inject fakes the same way).
 * class Unreachable implements ClientSocket {
 *   readyState = 0;
 *   protocol = "";
 *   binaryType = "blob";
 *   onopen = null;
 *   onmessage = null;
 *   onclose = null;
 *   onerror = null;
 *   send() {}
 *   close() {
 *     this.readyState = 3;
 *   }
 * }
 *
 * const client = new Client("ws://127.0.0.1:8000/", {
 *   WebSocket: Unreachable,
 *   maxQueueMessages: 2,
 * });
 * const drops: string[] = [];
 * client.events.on("drop", ({ topic, reason }) => drops.push(`${topic}: ${reason}`));
 * assert.equal(client.send("say", "one"), "queued");
 * assert.equal(client.send("say", "two"), "queued");
 * assert.equal(client.send("say", "three"), "dropped"); // overflow: "drop-newest"
 * assert.deepEqual(client.stats.dropped, 1);
 * await client.close(); // what is still queued is dropped, and reported
 * assert.deepEqual(drops, ["say: queue-full", "say: closed", "say: closed"]);
 * ```
 */
export class Client<
  In extends object = Record<string, unknown>,
  Out extends object = Record<string, unknown>,
  Req extends Record<string, { input: unknown; output: unknown }> = Record<
    string,
    { input: unknown; output: unknown }
  >,
> {
  readonly #engine: Engine;

  /**
   * Creates a client and starts connecting (in a microtask, so listeners
   * added right after see every event). {@linkcode connect} does the same.
   *
   * @param url A `ws:` or `wss:` URL (`http(s):` is taken as `ws(s):`;
   *   relative to the page in a browser).
   * @param options The options.
   * @throws {TypeError} If the URL or an option is malformed, or there is no `WebSocket`.
   * @throws {RangeError} If a number option is out of bounds.
   */
  constructor(url: string | URL, options: ClientOptions<In, Out, Req> = {}) {
    this.#engine = new Engine(resolveSettings(url, options), options.contract);
  }

  /** The state: `"connecting"`, `"open"`, `"reconnecting"` or `"closed"`. */
  get state(): ClientState {
    return this.#engine.state;
  }

  /** A snapshot of the counters. */
  get stats(): ClientStats {
    return this.#engine.stats;
  }

  /** The events: `state`, `open`, `reconnecting`, `closed`, `drop`, `recovery`, `gap`, ... */
  get events(): ClientEvents {
    return this.#engine.events;
  }

  /** The rooms joined (or being joined), with their positions. */
  get rooms(): { room: string; seq?: number; epoch?: string; joined: boolean }[] {
    const rooms = this.#engine.rooms;
    return rooms.names().map((room) => ({ room, ...rooms.position(room)! }));
  }

  /**
   * Sends a message: now if connected, else into the offline queue.
   *
   * A message handed to a socket that then drops may be lost (at most
   * once); use {@linkcode Client.request} when the sender must know.
   *
   * @typeParam K The topic.
   * @param topic A client topic of the contract.
   * @param data Its data.
   * @returns What happened to it: `"sent"`, `"queued"`, `"dropped"` (queue full) or `"closed"`.
   * @throws {TypeError} If the contract does not have the topic, the data
   *   is invalid (`validateOutbound`), or it cannot be serialized.
   * @throws {RangeError} If it is over the server's `maxMessageBytes`.
   */
  send<K extends keyof In & string>(topic: K, data: In[K]): SendResult {
    return this.#engine.send(topic, data);
  }

  /**
   * Handles a topic the server sends.
   *
   * @typeParam K The topic.
   * @param topic A server topic of the contract.
   * @param handler Called with each message's data and the message (its
   *   `room` and `seq` for a room message). A throw is reported as an `error` event.
   * @returns A function that removes the handler.
   */
  on<K extends keyof Out & string>(
    topic: K,
    handler: (data: Out[K], message: ServerMessage<K, Out[K]>) => void,
  ): () => void {
    return this.#engine.on(topic, handler as (data: unknown, message: unknown) => void);
  }

  /**
   * Sends a request and waits for its reply. Made while not connected, it
   * waits in the offline queue (within its timeout); never more are in
   * flight than the server's `maxRequestsInFlight`. It settles exactly once.
   *
   * @typeParam K The request's name.
   * @param name A request of the contract.
   * @param input Its input.
   * @param options Its timeout.
   * @returns The output.
   * @throws {TypeError} If the contract does not have the request, the
   *   input is invalid, or it cannot be serialized (thrown, not rejected).
   * @throws {RangeError} If it is over the server's `maxMessageBytes`.
   * @throws {RequestTimeoutError} (rejects) No reply in time.
   * @throws {ReplyError} (rejects) The server answered with an error.
   * @throws {ConnectionLostError} (rejects) The connection dropped while it was in flight.
   * @throws {RequestDroppedError} (rejects) The offline queue dropped it.
   * @throws {ClientClosedError} (rejects) The client closed first.
   */
  request<K extends keyof Req & string>(
    name: K,
    input: Req[K]["input"],
    options: RequestOptions = {},
  ): Promise<Req[K]["output"]> {
    const timeout = options.timeout === undefined
      ? this.#engine.settings.requestTimeout
      : checkTimeout("timeout", options.timeout);
    return this.#engine.request(name, input, timeout) as Promise<Req[K]["output"]>;
  }

  /**
   * Joins a room, and keeps it: after a reconnect the client re-joins it
   * with its last position and the server replays what was missed, or a
   * `recovery` event says `recovered: false` (refetch). Room messages
   * reach {@linkcode Client.on} in order and without duplicates.
   *
   * @param room The room's name: 1 to 255 UTF-8 bytes.
   * @param options The promise's timeout.
   * @returns The server's answer (at once, `joined: false`, if already joined).
   * @throws {TypeError} If the name is not a string.
   * @throws {RangeError} If it is empty or longer than 255 bytes.
   * @throws {ReplyError} (rejects) The server refused: `"forbidden"`,
   *   `"invalid"`, `"limit"`, ... The room is not kept.
   * @throws {RequestTimeoutError} (rejects) No answer in time; the room is kept.
   * @throws {ClientClosedError} (rejects) The client closed first.
   */
  join(room: string, options: JoinOptions = {}): Promise<JoinResult> {
    _checkRoom(room);
    const timeout = options.timeout === undefined
      ? this.#engine.settings.requestTimeout
      : checkTimeout("timeout", options.timeout);
    return this.#engine.join(room, timeout);
  }

  /**
   * Leaves a room: its messages are no longer tracked and it is not
   * re-joined. A join still waiting rejects.
   *
   * @param room The room's name.
   * @returns The server's answer (`left: false` if the client was not in
   *   it); at once if the client is not connected.
   * @throws {ClientClosedError} (rejects) The client closed first.
   */
  leave(room: string): Promise<LeaveResult> {
    _checkRoom(room);
    return this.#engine.leave(room);
  }

  /**
   * Closes for good: no reconnect; messages still queued are dropped
   * (counted, `drop` events with `"closed"`); requests and joins waiting
   * reject with `ClientClosedError`. Resolves when the socket reported
   * its close, or after `closeTimeout`. Calling it again returns the same promise.
   *
   * @param code The close code: 1000, or 3000 to 4999.
   * @param reason The close reason.
   * @returns A promise that resolves once closed.
   */
  close(code = 1000, reason = ""): Promise<void> {
    return this.#engine.close(code, reason);
  }
}

/**
 * Connects to a switchboard server and keeps the connection: see
 * {@linkcode Client}.
 *
 * @typeParam In Each client topic's data, from the contract.
 * @typeParam Out Each server topic's data, from the contract.
 * @typeParam Req Each request's input and output, from the contract.
 * @param url A `ws:` or `wss:` URL.
 * @param options The options: `contract`, `params`, `protocols`, `batch`, bounds, ...
 * @returns The client, connecting.
 * @throws {TypeError} If the URL or an option is malformed, or there is no `WebSocket`.
 * @throws {RangeError} If a number option is out of bounds.
 *
 * @example Usage (against a server)
 * ```ts ignore
 * import { connect } from "@switchboard/ws/client";
 * import { contract } from "./contract.ts"; // shared with the server
 *
 * const client = connect("wss://chat.example.com/ws", {
 *   contract,
 *   params: async () => ({ token: await freshToken() }), // before every attempt
 * });
 * client.on("said", (said, { room }) => render(room, said));
 * client.events.on("recovery", ({ room, recovered }) => {
 *   if (!recovered) refetch(room); // the server could not replay what was missed
 * });
 * await client.join("lobby");
 * client.send("say", { room: "lobby", text: "hello" });
 * const profile = await client.request("profile", { id: 7 }, { timeout: 5_000 });
 * await client.close();
 * ```
 *
 * @example Typed by a contract: a wrong topic or wrong data is a TypeError at the call site
 * ```ts
 * import { connect, defineContract, type } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * const contract = defineContract({
 *   client: { say: type<string>() },
 *   server: { said: type<{ user: string; text: string }>() },
 * });
 * const client = connect("ws://127.0.0.1:8000/", {
 *   contract,
 *   WebSocket: class {
 *     readyState = 0;
 *     protocol = "";
 *     binaryType = "blob";
 *     onopen = null;
 *     onmessage = null;
 *     onclose = null;
 *     onerror = null;
 *     send() {}
 *     close() {}
 *   },
 * });
 * client.on("said", ({ user, text }) => console.log(user, text)); // typed
 * // @ts-expect-error: "shout" is not a client topic of the contract
 * assert.throws(() => client.send("shout", "hi"), TypeError);
 * await client.close();
 * ```
 */
export function connect<
  In extends object = Record<string, unknown>,
  Out extends object = Record<string, unknown>,
  Req extends Record<string, { input: unknown; output: unknown }> = Record<
    string,
    { input: unknown; output: unknown }
  >,
>(url: string | URL, options: ClientOptions<In, Out, Req> = {}): Client<In, Out, Req> {
  return new Client(url, options);
}

function _checkRoom(room: unknown): void {
  if (typeof room !== "string") {
    throw new TypeError(`Invalid room: expected a string, got ${typeof room}`);
  }
  const bytes = utf8Length(room);
  if (bytes < 1 || bytes > 255) {
    throw new RangeError(`Invalid room "${room.slice(0, 64)}": ${bytes} bytes, expected 1 to 255`);
  }
}
