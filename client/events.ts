import type { ClientState } from "./options.ts";

/**
 * The data of a `state` event.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("state", ({ state, previous }) => console.info(`${previous} -> ${state}`));
 * ```
 */
export interface StateEvent {
  /** The new state. */
  readonly state: ClientState;
  /** The one before. */
  readonly previous: ClientState;
}

/**
 * The data of a `connecting` event.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("connecting", ({ attempt }) => console.info(`attempt ${attempt}`));
 * ```
 */
export interface ConnectingEvent {
  /** Attempts so far, this one included (1 for the first). */
  readonly attempt: number;
}

/**
 * The data of an `open` event.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("open", ({ session, reconnected }) => {
 *   if (reconnected) console.info(`back as ${session}`);
 * });
 * ```
 */
export interface OpenEvent {
  /** The server's session id (`$hello`), `""` if the server sent no `$hello`. */
  readonly session: string;
  /** The subprotocol chosen. */
  readonly protocol: string;
  /** The server's heartbeat interval in ms, 0 if none. */
  readonly heartbeat: number;
  /** The limits the server announced. */
  readonly limits: Readonly<Record<string, number>>;
  /** `true` if an earlier connection was lost. */
  readonly reconnected: boolean;
}

/**
 * The data of a `reconnecting` event: a connection was lost or an attempt failed.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("reconnecting", ({ code, reason, delay }) => {
 *   showBanner(`Connection lost (${code} ${reason}), retrying in ${Math.round(delay / 1000)} s`);
 * });
 * ```
 */
export interface ReconnectingEvent {
  /** The close code (1006 for a drop, a timeout, a failed attempt). */
  readonly code: number;
  /** The close reason, or what went wrong. */
  readonly reason: string;
  /** The delay before the next attempt, in ms. */
  readonly delay: number;
  /** Consecutive failed attempts so far. */
  readonly failed: number;
}

/**
 * The data of a `closed` event: the client is closed for good.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("closed", ({ cause, code, reason }) => {
 *   if (cause === "server") showMessage(`Disconnected by the server: ${reason} (${code})`);
 *   if (cause === "retries") showMessage("Cannot reach the server");
 * });
 * ```
 */
export interface ClosedEvent {
  /**
   * `"client"`: `close()`; `"server"`: the server closed with a code from
   * 4000 to 4099; `"retries"`: `maxFailedAttempts` ran out; `"lost"`: the
   * connection closed (or an attempt failed) under `reconnect: false`.
   */
  readonly cause: "client" | "server" | "retries" | "lost";
  /** The close code. */
  readonly code: number;
  /** The close reason. */
  readonly reason: string;
}

/**
 * The data of a `drop` event.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("drop", ({ reason, topic, request }) => {
 *   if (!request) console.warn(`"${topic}" was not sent (${reason})`);
 * });
 * ```
 */
export interface DropEvent {
  /** `"queue-full"`: the offline queue's bound; `"too-large"`: over the server's `maxMessageBytes`; `"closed"`: still queued at `close()`. */
  readonly reason: "queue-full" | "too-large" | "closed";
  /** The message's topic (or request name). */
  readonly topic: string;
  /** Its UTF-8 bytes. */
  readonly bytes: number;
  /** `true` for a request (it rejected with `RequestDroppedError`). */
  readonly request: boolean;
}

/**
 * The data of a `recovery` event: the outcome of re-joining a room after a reconnect.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("recovery", ({ room, recovered, reason }) => {
 *   if (!recovered) reloadRoom(room, reason); // refetch: the missed messages cannot be replayed
 * });
 * ```
 */
export interface RecoveryEvent {
  /** The room. */
  readonly room: string;
  /** `true`: every message missed was delivered, in order, before this event. */
  readonly recovered: boolean;
  /**
   * Why not: `"epoch"` (the room's history was lost), `"gap"` (the window
   * no longer holds the messages missed), `"no-history"` (the server keeps
   * none), `"refused"` (the server refused the re-join; the room was left).
   */
  readonly reason?: "epoch" | "gap" | "no-history" | "refused";
  /** The room's position now. */
  readonly seq?: number;
  /** The room's epoch now. */
  readonly epoch?: string;
  /** With `"refused"`: the server's error. */
  readonly error?: Error;
}

/**
 * The data of a `gap` event: the messages of a room from `expected` to
 * `received - 1` were never delivered (a server dropped them, or a replay
 * fell short). The app should refetch, as for `recovered: false`.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("gap", ({ room, expected, received }) => {
 *   console.warn(`${room}: messages ${expected} to ${received - 1} are missing`);
 *   reloadRoom(room);
 * });
 * ```
 */
export interface GapEvent {
  /** The room. */
  readonly room: string;
  /** The first seq missing. */
  readonly expected: number;
  /** The seq that came instead (the next one to deliver). */
  readonly received: number;
}

/**
 * The data of an `invalid` event.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("invalid", ({ reason, topic, error }) => console.warn(reason, topic, error.message));
 * ```
 */
export interface InvalidEvent {
  /** `"frame"`: not a valid frame; `"data"`: refused by the contract (`validateInbound`). */
  readonly reason: "frame" | "data";
  /** The topic, if known. */
  readonly topic?: string;
  /** What is wrong. */
  readonly error: Error;
}

/**
 * The data of a `rejected` event: a `$error` from the server about a client message.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("rejected", ({ code, topic }) => {
 *   if (code === "rate-limited") slowDown(topic);
 * });
 * ```
 */
export interface RejectedEvent {
  /** The server's code: `"invalid"`, `"rate-limited"`, `"busy"`, `"json"`, ... */
  readonly code: string;
  /** The server's sentence. */
  readonly message: string;
  /** The topic refused, if the server said. */
  readonly topic?: string;
  /** The contract's issues, for `"invalid"`. */
  readonly issues?: unknown;
}

/**
 * The data of a `duplicate` event: a room message already delivered, dropped.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("duplicate", ({ room, seq }) => console.debug(`${room}#${seq} again, dropped`));
 * ```
 */
export interface DuplicateEvent {
  /** The room. */
  readonly room: string;
  /** Its seq. */
  readonly seq: number;
}

/**
 * Every event of a client, by name, with its data: listen with
 * `client.events.on(name, listener)`.
 *
 * @example Usage
 * ```ts ignore
 * client.events.on("state", ({ state }) => badge.textContent = state);
 * client.events.on("reconnecting", ({ code, delay }) => console.info(code, `retry in ${delay} ms`));
 * client.events.on("closed", ({ cause, code }) => cause === "server" && showKicked(code));
 * client.events.on("drop", ({ topic, reason }) => console.warn(`not sent: ${topic} (${reason})`));
 * client.events.on("recovery", ({ room, recovered }) => recovered || refetch(room));
 * client.events.on("gap", ({ room }) => refetch(room));
 * ```
 */
export interface ClientEventMap {
  /** Every change of `client.state`. */
  state: StateEvent;
  /** An attempt starts: the first one (state `connecting`) or a retry (state `reconnecting`). */
  connecting: ConnectingEvent;
  /** Connected. */
  open: OpenEvent;
  /** Lost or failed; the next attempt is scheduled. */
  reconnecting: ReconnectingEvent;
  /** Closed for good. */
  closed: ClosedEvent;
  /** A message or request dropped from the offline queue. */
  drop: DropEvent;
  /** The outcome of re-joining a room after a reconnect. */
  recovery: RecoveryEvent;
  /** A room's sequence skipped. */
  gap: GapEvent;
  /** A room message delivered before, dropped. */
  duplicate: DuplicateEvent;
  /** A frame or message that could not be read or was refused. */
  invalid: InvalidEvent;
  /** The server refused a client message (`$error`). */
  rejected: RejectedEvent;
  /** A handler or listener threw; `console.error` if nobody listens. */
  error: { readonly error: unknown; readonly topic?: string };
  /** A binary message. */
  binary: ArrayBuffer;
}

/**
 * A client's events, by name ({@linkcode ClientEventMap}). A listener that
 * throws is reported as an `error` event (to `console.error` if nobody
 * listens to `error`); the other listeners still run.
 *
 * @example Usage
 * ```ts ignore
 * const off = client.events.on("state", ({ state }) => setBadge(state));
 * // later
 * off();
 * ```
 */
export interface ClientEvents {
  /**
   * Listens to an event.
   *
   * @typeParam K The event's name.
   * @param name The event's name.
   * @param listener Called with the event's data.
   * @returns A function that stops listening.
   */
  on<K extends keyof ClientEventMap>(
    name: K,
    listener: (data: ClientEventMap[K]) => void,
  ): () => void;
}
