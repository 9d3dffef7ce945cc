import type { Connection as AdapterConnection } from "./adapter.ts";
import { runtimeCause } from "./close_cause.ts";
import { CloseCode } from "./close_codes.ts";
import { type EnvelopeError, type QueueFullError, SessionClosedError } from "./errors.ts";
import { type ClientRooms, isControlTopic } from "./client_rooms.ts";
import { Call } from "./contract_rules.ts";
import type { ConnectionHooks, HookRunner } from "./hooks.ts";
import { Inbound, type InboundOwner, type InboundShared, type RejectReason } from "./inbound.ts";
import type { RequestRunner } from "./requests.ts";
import type { Clock, LifeSettings } from "./settings.ts";
import { Outbound, type OutboundOwner, type OutboundShared } from "./outbound.ts";
import { encodeEnvelope, type Envelope, ERROR_TOPIC, isBatch, isV1 } from "./protocol.ts";
import type { RoomIndex } from "./rooms.ts";
import type { Frame } from "./send_queue.ts";
import {
  type CloseCause,
  type DropInfo,
  type SendResult,
  Session,
  type SessionEngine,
  type SessionStats,
} from "./session.ts";
import type { Socket, SocketTraits } from "./socket.ts";
import type { Message } from "./topics.ts";
import { truncateUtf8, utf8Length } from "./utf8.ts";

/** The longest room name, in UTF-8 bytes. */
const _MAX_ROOM_NAME_BYTES = 255;

/** What the server gives its connections: shared settings, the room index, hooks, and where a close is reported. */
export interface ConnectionHost<Ctx, In extends object, Out extends object> {
  readonly life: LifeSettings;
  readonly clock: Clock;
  readonly outbound: OutboundShared;
  /** The write scheduler: told of every inbound message, to see how busy the server is. */
  readonly scheduler: { received(): void };
  readonly inbound: InboundShared;
  readonly rooms: RoomIndex<Connection<Ctx, In, Out>>;
  readonly runner: HookRunner<Session<Ctx, In, Out>>;
  readonly hooks: ConnectionHooks<Ctx, In, Out>;
  /** Runs request handlers, under a contract with requests. */
  readonly requests: RequestRunner<Session<Ctx, In, Out>> | undefined;
  /** Answers v1 sessions' `$join` and `$leave`. */
  readonly clientRooms: ClientRooms<Session<Ctx, In, Out>>;
  /** Checks outbound data, under `validateOutbound`. */
  readonly check: ((topic: string, data: unknown) => void) | undefined;
  /** The session is closed (out of the registry, `onClose`); `lingering` until the runtime reports it gone. */
  closed(connection: Connection<Ctx, In, Out>, lingering: boolean): void;
  /** A lingering connection is gone at last: its admission goes back. */
  disconnected(connection: Connection<Ctx, In, Out>): void;
}

// Typed `number`: TypeScript would narrow `this.#state` across a call that changes it.
const _OPEN: number = 0;
const _CLOSING: number = 1;
const _CLOSED: number = 2;
const _STATES = ["open", "closing", "closed"] as const;
// `#bits`: the state under `_STATE`, plus `_V1` for a session of protocol v1.
const _STATE = 3;
const _V1 = 4;
const _NO_ROOMS: ReadonlySet<string> = new Set<string>();

/** What a connection needs only once it ends (or its runtime reports an error). */
class _Ending {
  cause: CloseCause | undefined;
  runtimeError: unknown;
  closeTimer: unknown;
  closed: Promise<CloseCause> | undefined;
  resolveClosed: ((cause: CloseCause) => void) | undefined;
  /** Closed before the runtime reported the connection gone. */
  lingering = false;
}

/**
 * The engine of one socket: its state machine (open → closing → closed),
 * close cause, rooms, an {@linkcode Outbound} side, and an
 * {@linkcode Inbound} side made on the first frame. The adapter reports
 * the socket's events to it; its {@linkcode Session} is the public face.
 */
export class Connection<Ctx, In extends object, Out extends object>
  implements AdapterConnection<Ctx, In, Out>, SessionEngine, OutboundOwner, InboundOwner {
  readonly session: Session<Ctx, In, Out>;
  /** The client key its place under the session caps is held by. */
  readonly admission: string;
  readonly #host: ConnectionHost<Ctx, In, Out>;
  readonly #outbound: Outbound;
  #inbound: Inbound | undefined;
  /** The rooms it is in (a lone room as its name: most sessions are in one); once closing, the rooms it left. */
  #rooms: Set<string> | string | undefined;
  /** The state and `_V1`: one field, not two, for the memory of an idle session. */
  #bits: number;
  #ending: _Ending | undefined;

  constructor(
    host: ConnectionHost<Ctx, In, Out>,
    socket: Socket,
    init: { id: string; ctx: Ctx; admission: string; chosen: string | undefined } & SocketTraits,
  ) {
    this.#host = host;
    this.admission = init.admission;
    this.#bits = _OPEN | (isV1(init.chosen) ? _V1 : 0);
    this.#outbound = new Outbound(host.outbound, this, socket, isBatch(init.chosen), init);
    this.session = new Session(init.id, init.ctx, this);
  }

  /** A session of protocol v1. */
  get protocol(): boolean {
    return (this.#bits & _V1) !== 0;
  }

  get #state(): number {
    return this.#bits & _STATE;
  }

  // ---------------------------------------------------------------- the session's engine

  /** The contract's outbound check, under `validateOutbound`. */
  get check(): ((topic: string, data: unknown) => void) | undefined {
    return this.#host.check;
  }

  get state(): "open" | "closing" | "closed" {
    return _STATES[this.#state];
  }

  get open(): boolean {
    return this.#state === _OPEN;
  }

  get closeCause(): CloseCause | undefined {
    return this.#ending?.cause;
  }

  get messagesSent(): number {
    return this.#outbound.messagesSent;
  }

  get waiting(): boolean {
    return (this.#outbound.queue?.length ?? 0) > 0;
  }

  get stats(): SessionStats {
    const outbound = this.#outbound;
    const queue = outbound.queue;
    const inbound = this.#inbound;
    return {
      messagesSent: outbound.messagesSent,
      bytesSent: outbound.bytesSent,
      messagesQueued: outbound.messagesQueued,
      queueLength: queue?.length ?? 0,
      queueBytes: queue?.bytes ?? 0,
      queuePeakMessages: queue?.peakMessages ?? 0,
      queuePeakBytes: queue?.peakBytes ?? 0,
      messagesDropped: outbound.messagesDropped,
      bytesDropped: outbound.bytesDropped,
      messagesReceived: inbound?.messagesReceived ?? 0,
      invalidMessages: inbound?.invalidMessages ?? 0,
      messagesRejected: inbound?.messagesRejected ?? 0,
      pendingMessages: inbound?.pendingMessages ?? 0,
    };
  }

  offer(data: string | Uint8Array<ArrayBuffer>, bytes: number): SendResult {
    return this.#outbound.offer(data, bytes);
  }

  end(code: number, reason: string): Promise<CloseCause> {
    this.#beginClose({ kind: "server", code, reason });
    return this.whenClosed();
  }

  currentRooms(): ReadonlySet<string> {
    return this.#state === _OPEN ? this.#roomSet() : _NO_ROOMS;
  }

  join(room: string): boolean {
    if (typeof room !== "string") {
      throw new TypeError(`Cannot join room: the name must be a string, got ${typeof room}`);
    }
    if (this.#state !== _OPEN) {
      throw new SessionClosedError(`Cannot join room "${room}": session is closed`);
    }
    const rooms = this.#rooms;
    if (rooms === room || (typeof rooms === "object" && rooms.has(room))) return false;
    const bytes = utf8Length(room);
    if (bytes < 1 || bytes > _MAX_ROOM_NAME_BYTES) {
      throw new RangeError(
        `Cannot join room: the name must have 1 to ${_MAX_ROOM_NAME_BYTES} bytes, got ${bytes}`,
      );
    }
    const max = this.#host.life.maxRoomsPerSession;
    if ((rooms === undefined ? 0 : typeof rooms === "string" ? 1 : rooms.size) >= max) {
      throw new RangeError(`Cannot join room "${room}": the session is already in ${max} rooms`);
    }
    if (rooms === undefined) this.#rooms = room;
    else if (typeof rooms === "string") this.#rooms = new Set([rooms, room]);
    else rooms.add(room);
    this.#host.rooms.add(room, this);
    return true;
  }

  leave(room: string): boolean {
    const rooms = this.#rooms;
    if (this.#state !== _OPEN || rooms === undefined) return false;
    if (rooms === room) this.#rooms = undefined;
    else if (typeof rooms === "string" || !rooms.delete(room)) return false;
    this.#host.rooms.delete(room, this);
    return true;
  }

  // ---------------------------------------------------------------- the adapter's side

  message(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void {
    if (this.#state !== _OPEN) return;
    this.#host.scheduler.received();
    // What is sent back while the message is handled (the hook's replies,
    // an `$error`) is written at once: a corking runtime already corks it.
    const outbound = this.#outbound;
    outbound.receiving = true;
    (this.#inbound ??= new Inbound(this.#host.inbound, this, this.protocol)).receive(data);
    outbound.receiving = false;
  }

  error(error: unknown): void {
    this.#ended().runtimeError ??= error;
  }

  drain(): void {
    this.#outbound.flush();
  }

  close(code: number, reason: string, kind?: CloseCause["kind"]): void {
    if (this.#state === _CLOSED) {
      if (this.#ending!.lingering) {
        this.#ending!.lingering = false;
        this.#host.disconnected(this);
      }
      return;
    }
    if (this.#state === _CLOSING) {
      this.#finish(undefined, false, false);
      return;
    }
    if (kind === "too-large") this.#host.outbound.tally.tooLargeCloses++;
    const cause = runtimeCause(code, reason, kind, this.#ending?.runtimeError);
    this.#finish(cause, false, false);
  }

  // ---------------------------------------------------------------- the server's side

  /** Offers a publish's shared frame. */
  deliver(frame: Frame): SendResult {
    return this.#outbound.offer(frame.data, frame.bytes, frame);
  }

  /** Starts closing for a shutdown. */
  shutdown(code: number, reason: string): void {
    this.#beginClose({ kind: "shutdown", code, reason });
  }

  /** Closes it now, whatever the handshake: the shutdown's time is up. */
  forceClose(): void {
    this.#finish(this.#ending?.cause, true, true);
  }

  /** Resolves with the cause once closed. */
  whenClosed(): Promise<CloseCause> {
    const ending = this.#ended();
    if (ending.closed === undefined) {
      ending.closed = this.#state === _CLOSED
        ? Promise.resolve(ending.cause!)
        : new Promise((resolve) => ending.resolveClosed = resolve);
    }
    return ending.closed;
  }

  // ---------------------------------------------------------------- its two sides' owner

  dropped(drop: DropInfo): void {
    this.#host.runner.call(this.#host.hooks.onDrop, this.session, drop);
  }

  overflowed(error: QueueFullError): void {
    this.#beginClose({
      kind: "overflow",
      code: CloseCode.TRY_AGAIN_LATER,
      reason: "Send queue full",
      error,
    });
  }

  dispatch(message: Envelope | Call | Uint8Array<ArrayBuffer>, settled: () => void): boolean {
    const outbound = this.#outbound;
    const { runner, hooks } = this.#host;
    // Also set by `message()`; a backlogged message is handled after it returned.
    const receiving = outbound.receiving;
    outbound.receiving = true;
    const async = message instanceof Uint8Array
      ? runner.call(hooks.onBinary, this.session, message, settled)
      : message instanceof Call
      ? (isControlTopic(message.topic)
        ? this.#host.clientRooms.run(this.session, message, this, settled)
        : this.#host.requests!.run(this.session, message, this, settled))
      : runner.call(hooks.onMessage, this.session, message as Message<In>, settled);
    outbound.receiving = receiving;
    return async;
  }

  rejected(reason: RejectReason): void {
    this.#host.runner.call(this.#host.hooks.onRejectedMessage, this.session, reason);
  }

  invalid(error: EnvelopeError): void {
    this.#host.runner.call(this.#host.hooks.onInvalidMessage, this.session, error);
  }

  reply(code: string, message: string): void {
    this.post(encodeEnvelope(ERROR_TOPIC, { code, message }));
  }

  post(text: string): void {
    this.#outbound.offer(text, utf8Length(text));
  }

  /** Sends `$hello`, the first frame of a v1 session, in a frame of its own. */
  hello(text: string): void {
    this.post(text);
    this.#outbound.flushPending();
  }

  fail(cause: Omit<CloseCause, "rooms">): void {
    this.#beginClose(cause);
  }

  // ---------------------------------------------------------------- closing

  /** The rooms as a set: a lone room becomes one now. */
  #roomSet(): ReadonlySet<string> {
    const rooms = this.#rooms;
    if (rooms === undefined) return _NO_ROOMS;
    return typeof rooms === "string" ? this.#rooms = new Set([rooms]) : rooms;
  }

  #ended(): _Ending {
    return this.#ending ??= new _Ending();
  }

  /** Decides to close: nothing is sent after this; every room is left. */
  #beginClose(cause: Omit<CloseCause, "rooms">): void {
    if (this.#state !== _OPEN) return;
    this.#bits = (this.#bits & ~_STATE) | _CLOSING;
    this.#ended().cause = { ...cause, rooms: this.#roomSet() };
    this.#stop();
    try {
      this.#outbound.closeSocket(cause.code, truncateUtf8(cause.reason, 123));
    } catch (error) {
      this.#host.runner.report(error, this.session);
      this.#finish(undefined, true, false);
      return;
    }
    if (this.#state !== _CLOSING) return; // some runtimes (Bun) report the close inside close()
    const host = this.#host;
    this.#ending!.closeTimer = host.clock.setTimeout(() => {
      this.#ending!.closeTimer = undefined;
      this.#finish(undefined, true, true);
    }, host.life.closeTimeout);
  }

  /** Both sides stop (queued messages dropped, counted) and every room is left. */
  #stop(): void {
    this.#outbound.close();
    this.#inbound?.close();
    const rooms = this.#rooms;
    if (typeof rooms === "string") this.#host.rooms.delete(rooms, this);
    else if (rooms !== undefined) { for (const room of rooms) this.#host.rooms.delete(room, this); }
  }

  /**
   * Closes the session: out of the registry, `onClose`, the promise.
   * `lingering` if the runtime has not reported the connection gone: it
   * keeps its place under the session caps until it does.
   */
  #finish(cause: Omit<CloseCause, "rooms"> | undefined, forced: boolean, lingering: boolean): void {
    if (this.#state === _CLOSED) return;
    const ending = this.#ended();
    if (this.#state === _OPEN) {
      ending.cause = { ...cause!, rooms: this.#roomSet() };
      this.#stop();
    }
    this.#bits = (this.#bits & ~_STATE) | _CLOSED;
    if (forced) ending.cause = { ...ending.cause!, forced: true };
    if (ending.closeTimer !== undefined) {
      this.#host.clock.clearTimeout(ending.closeTimer);
      ending.closeTimer = undefined;
    }
    ending.lingering = lingering;
    this.#host.closed(this, lingering);
    ending.resolveClosed?.(ending.cause!);
  }
}
