import { Checks } from "./_checks.ts";
import { Connector, type ConnectorOwner } from "./_connector.ts";
import { Emitter } from "./_emitter.ts";
import {
  type Handler,
  Handlers,
  readJoinReply,
  readLeaveResult,
  readLimit,
  readRejected,
} from "./_handlers.ts";
import { type Item, Outbox } from "./_outbox.ts";
import { type Outcome, Requests } from "./_requests.ts";
import { Rooms, type RoomsOwner } from "./_rooms.ts";
import type { Settings } from "./_settings.ts";
import { encodeOutgoing, ERROR, type Incoming, JOIN, LEAVE, REPLY, utf8Length } from "./_wire.ts";
import {
  ClientClosedError,
  ConnectionLostError,
  ReplyError,
  RequestDroppedError,
} from "./errors.ts";
import type { ClientState, ClientStats, JoinResult, LeaveResult, SendResult } from "./options.ts";
import type {
  ClosedEvent,
  DropEvent,
  DuplicateEvent,
  GapEvent,
  OpenEvent,
  RecoveryEvent,
} from "./events.ts";
import { JoinWaiters } from "./_join_waiters.ts";

/** A `$join` or `$leave` waiting for a request slot. */
interface _Control {
  readonly kind: "join" | "leave";
  readonly room: string;
  /** For a leave: settles its promise. */
  readonly done?: (outcome: Outcome) => void;
}

/**
 * The engine behind a `Client`: the offline queue, requests, rooms and
 * dispatch, over a {@linkcode Connector} that keeps the one connection.
 */
export class Engine implements ConnectorOwner, RoomsOwner {
  state: ClientState = "connecting";
  readonly events: Emitter = new Emitter();
  readonly #n = {
    sent: 0,
    received: 0,
    dropped: 0,
    droppedBytes: 0,
    invalid: 0,
    rejected: 0,
    unhandled: 0,
    duplicates: 0,
    gaps: 0,
    missed: 0,
    lost: 0,
    attempts: 0,
    opened: 0,
  };
  readonly settings: Settings;
  readonly connector: Connector;
  readonly checks: Checks;
  readonly rooms: Rooms = new Rooms(this);
  readonly joins: JoinWaiters;
  readonly #handlers: Handlers;
  readonly #outbox: Outbox;
  readonly #requests: Requests;
  #control: _Control[] = [];
  #maxMessageBytes = Infinity;
  #maxInFlight = Infinity;
  #closing: Promise<void> | undefined;

  // deno-lint-ignore no-explicit-any
  constructor(settings: Settings, contract: any) {
    this.settings = settings;
    this.checks = new Checks(contract, settings.validateOutbound, settings.validateInbound);
    this.#handlers = new Handlers(this.checks, this.events);
    this.#outbox = new Outbox(
      settings.maxQueueMessages,
      settings.maxQueueBytes,
      settings.dropOldest,
      (item) => this.#drop(item, "queue-full"),
    );
    this.#requests = new Requests(settings.clock, (id) => this.#outbox.remove(id));
    this.joins = new JoinWaiters(settings.clock);
    this.connector = new Connector(settings, this);
    queueMicrotask(() => this.connector.start()); // after the caller added its listeners
  }

  // ---- the API -------------------------------------------------------------

  /** A snapshot of the counters. */
  get stats(): ClientStats {
    return {
      ...this.#n,
      queued: this.#outbox.size,
      queuedBytes: this.#outbox.bytes,
      timedOut: this.#requests.timedOut,
    };
  }

  send(topic: string, data: unknown): SendResult {
    if (this.state === "closed") return "closed";
    this.checks.message(topic, data);
    const text = encodeOutgoing(topic, data);
    const bytes = this.#size(topic, text);
    if (this.#outbox.size === 0 && this.connector.send(text)) {
      this.#n.sent++;
      return "sent";
    }
    return this.#outbox.push({ text, bytes, topic });
  }

  request(name: string, input: unknown, timeout: number): Promise<unknown> {
    if (this.state === "closed") {
      return Promise.reject(new ClientClosedError(`Cannot request "${name}"`));
    }
    this.checks.input(name, input);
    let settle!: (outcome: Outcome) => void;
    const promise = new Promise<unknown>((resolve, reject) => {
      settle = (outcome) => "error" in outcome ? reject(outcome.error) : resolve(outcome.value);
    });
    const id = this.#requests.add(name, settle, timeout);
    let text: string, bytes: number;
    try {
      text = encodeOutgoing(name, input, id);
      bytes = this.#size(name, text);
    } catch (error) {
      this.#requests.cancel(id);
      throw error;
    }
    if (this.#outbox.size === 0 && this.#slot() && this.connector.send(text)) {
      this.#n.sent++;
      this.#requests.sent(id);
    } else {
      this.#outbox.push({ text, bytes, topic: name, id });
    }
    return promise;
  }

  on(topic: string, handler: Handler): () => void {
    return this.#handlers.on(topic, handler);
  }

  join(room: string, timeout: number): Promise<JoinResult> {
    if (this.state === "closed") {
      return Promise.reject(new ClientClosedError(`Cannot join room "${room}"`));
    }
    const position = this.rooms.position(room);
    if (position?.joined) return Promise.resolve({ ...position, room, joined: false });
    const promise = this.joins.add(room, timeout);
    if (!this.rooms.has(room)) {
      this.rooms.add(room);
      if (this.connector.open) this.#queueControl({ kind: "join", room });
    }
    return promise;
  }

  leave(room: string): Promise<LeaveResult> {
    if (this.state === "closed") {
      return Promise.reject(new ClientClosedError(`Cannot leave room "${room}"`));
    }
    this.joins.fail(room, new Error(`Cannot join room "${room}": left before the server answered`));
    this.#control = this.#control.filter((c) => !(c.kind === "join" && c.room === room));
    const known = this.rooms.has(room);
    this.rooms.remove(room);
    // Offline there is no session, so no membership left. Online, ask the server even for a
    // room the client did not join: the server may have put the session in it.
    if (!this.connector.open) return Promise.resolve({ room, left: known });
    return new Promise((resolve, reject) => {
      this.#queueControl({
        kind: "leave",
        room,
        done: (outcome) => {
          if ("value" in outcome) resolve(readLeaveResult(room, outcome.value));
          // The session went with the connection, and its rooms with it.
          else if (outcome.error instanceof ConnectionLostError) resolve({ room, left: true });
          else reject(outcome.error);
        },
      });
    });
  }

  close(code: number, reason: string): Promise<void> {
    return this.#closing ??= this.connector.stop(code, reason);
  }

  // ---- ConnectorOwner --------------------------------------------------------

  attempting(attempt: number): void {
    this.#n.attempts++;
    this.events.emit("connecting", { attempt });
  }

  ready(event: OpenEvent): void {
    this.#n.opened++;
    this.#maxMessageBytes = readLimit(event.limits.maxMessageBytes);
    this.#maxInFlight = readLimit(event.limits.maxRequestsInFlight);
    for (const room of this.rooms.names()) this.#control.push({ kind: "join", room });
    this.#pump();
    if (this.connector.stopped) return;
    this.#setState("open");
    this.events.emit("open", event);
  }

  envelopes(list: Incoming[]): void {
    for (const envelope of list) {
      if (this.state === "closed") return;
      this.#n.received++;
      switch (envelope.topic) {
        case REPLY:
          this.#reply(envelope);
          break;
        case ERROR:
          this.#rejected(envelope.data);
          break;
        default:
          if (envelope.topic.startsWith("$")) break; // $hello again, $heartbeat, or newer
          if (envelope.room !== undefined) this.rooms.message(envelope);
          else this.deliver(envelope);
      }
    }
  }

  binary(data: ArrayBuffer): void {
    this.#n.received++;
    this.events.emit("binary", data);
  }

  invalidFrame(error: Error): void {
    this.#n.invalid++;
    this.events.emit("invalid", { reason: "frame", error });
  }

  lost(code: number, reason: string, delay: number | undefined, failed: number): void {
    this.#n.lost += this.#requests.lost(code, reason);
    const leaves = this.#control.filter((c) => c.kind === "leave");
    this.#control = [];
    for (const c of leaves) c.done!({ value: { left: true } });
    this.rooms.lost();
    if (delay === undefined) return;
    this.#setState("reconnecting");
    this.events.emit("reconnecting", { code, reason, delay, failed });
  }

  stopped(event: ClosedEvent): void {
    for (const item of this.#outbox.drain()) this.#drop(item, "closed");
    this.#requests.closeAll((name) => new ClientClosedError(`Cannot complete request "${name}"`));
    for (const c of this.#control) {
      c.done?.({ error: new ClientClosedError(`Cannot leave room "${c.room}"`) });
    }
    this.#control = [];
    this.joins.closeAll();
    this.rooms.lost();
    this.#setState("closed");
    this.events.emit("closed", event);
  }

  // ---- RoomsOwner ------------------------------------------------------------

  deliver(message: Incoming): void {
    const verdict = this.#handlers.deliver(message);
    if (verdict === "unhandled") this.#n.unhandled++;
    else if (verdict === "invalid") this.#n.invalid++;
  }

  gap(event: GapEvent): void {
    this.#n.gaps++;
    this.#n.missed += event.received - event.expected;
    this.events.emit("gap", event);
  }

  duplicate(event: DuplicateEvent): void {
    this.#n.duplicates++;
    this.events.emit("duplicate", event);
  }

  recovery(event: RecoveryEvent): void {
    this.events.emit("recovery", event);
  }

  // ---- internals -------------------------------------------------------------

  /** The UTF-8 size of a message's text, checked against the server's `maxMessageBytes`. */
  #size(topic: string, text: string): number {
    const bytes = utf8Length(text);
    if (bytes > this.#maxMessageBytes) {
      throw new RangeError(
        `Cannot send "${topic}": ${bytes} bytes is over the server's maxMessageBytes (${this.#maxMessageBytes})`,
      );
    }
    return bytes;
  }

  #slot(): boolean {
    return this.#requests.inFlight < this.#maxInFlight;
  }

  #queueControl(control: _Control): void {
    this.#control.push(control);
    this.#pump();
  }

  /** Sends what waits, in order, while open: joins and leaves first, then the queue. */
  #pump(): void {
    while (this.connector.open) {
      if (this.#control.length > 0 && this.#slot()) {
        this.#sendControl(this.#control.shift()!);
        continue;
      }
      const item = this.#outbox.peek();
      if (item === undefined || (item.id !== undefined && !this.#slot())) break;
      this.#outbox.shift();
      if (item.bytes > this.#maxMessageBytes) {
        this.#drop(item, "too-large");
        continue;
      }
      this.connector.send(item.text);
      this.#n.sent++;
      if (item.id !== undefined) this.#requests.sent(item.id);
    }
  }

  #sendControl(control: _Control): void {
    const { kind, room } = control;
    if (kind === "join" && !this.rooms.has(room)) return; // left meanwhile
    const data = kind === "join" ? this.rooms.joinData(room) : { room };
    const id = this.#requests.add(
      kind === "join" ? JOIN : LEAVE,
      kind === "join" ? (outcome) => this.#joined(room, outcome) : control.done!,
    );
    this.connector.send(encodeOutgoing(kind === "join" ? JOIN : LEAVE, data, id));
    this.#n.sent++;
    this.#requests.sent(id);
  }

  #joined(room: string, outcome: Outcome): void {
    if ("value" in outcome) {
      const reply = readJoinReply(room, outcome.value);
      this.rooms.answered(reply);
      this.joins.resolve(room, reply);
    } else if (outcome.error instanceof ReplyError) {
      this.rooms.refused(room, outcome.error);
      this.joins.fail(room, outcome.error);
    } // lost: re-joined on the next connection; closed: the waiters fail at close
  }

  #reply(envelope: Incoming): void {
    const id = envelope.id;
    const name = id === undefined ? undefined : this.#requests.name(id);
    if (name === undefined) return; // late (timed out) or unknown
    let outcome: Outcome;
    if (envelope.error !== undefined) {
      const { code, message, issues } = envelope.error;
      outcome = { error: new ReplyError(name, code, message, issues) };
    } else {
      const error = name.startsWith("$") ? undefined : this.checks.output(name, envelope.data);
      if (error !== undefined) {
        this.#n.invalid++;
        this.events.emit("invalid", { reason: "data", topic: name, error });
      }
      outcome = error !== undefined ? { error } : { value: envelope.data };
    }
    this.#requests.answer(id!, outcome);
    this.#pump(); // a request slot is free
  }

  #rejected(data: unknown): void {
    this.#n.rejected++;
    this.events.emit("rejected", readRejected(data));
  }

  #drop(item: Item, reason: DropEvent["reason"]): void {
    this.#n.dropped++;
    this.#n.droppedBytes += item.bytes;
    const request = item.id !== undefined;
    if (request) {
      this.#requests.fail(
        item.id!,
        reason === "closed"
          ? new ClientClosedError(`Cannot complete request "${item.topic}"`)
          : new RequestDroppedError(item.topic, reason),
      );
    }
    this.events.emit("drop", { reason, topic: item.topic, bytes: item.bytes, request });
  }

  #setState(state: ClientState): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.events.emit("state", { state, previous });
  }
}
