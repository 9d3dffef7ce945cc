import { QueueFullError } from "./errors.ts";
import type { OutboundSettings } from "./settings.ts";
import { type Frame, SendQueue } from "./send_queue.ts";
import type { DropInfo, SendResult } from "./session.ts";
import type { Socket, SocketTraits } from "./socket.ts";
import type { Tally } from "./stats.ts";
import { utf8Length } from "./utf8.ts";

/** What an {@linkcode Outbound} tells the connection that owns it. */
export interface OutboundOwner {
  /** Messages were dropped; they are counted already. */
  dropped(drop: DropInfo): void;
  /** The queue overflowed under the `close` policy: the owner closes. */
  overflowed(error: QueueFullError): void;
}

/** The server-wide write scheduler, as an outbound side sees it. */
export interface WriteScheduler {
  /** Writes the side's coalesced frames soon: at the end of this tick, or of this turn under load. */
  defer(outbound: Outbound): void;
  /** Keeps flushing the side's queue until it is empty (runtimes without drain events). */
  congested(outbound: Outbound): void;
  /** Forgets the side: it is closed. */
  forget(outbound: Outbound): void;
  /**
   * A side that coalesces (cork or batch) opened, or closed (`-1`): while
   * none is open nothing can be coalesced, and the scheduler need not watch
   * for busy turns.
   */
  coalescing(change: 1 | -1): void;
}

/** What every outbound side of one server shares. */
export interface OutboundShared {
  readonly settings: OutboundSettings;
  readonly scheduler: WriteScheduler;
  readonly tally: Tally;
  readonly joiner: BatchJoiner;
}

/**
 * Builds the text of a batch frame, `[a,b,…]`, from a tick's messages, and
 * keeps the last one built: the members of a room are sent the same frames
 * in the same order, so each batch socket after the first reuses that text
 * (a comparison of references) instead of building a copy of its own.
 */
export class BatchJoiner {
  #parts: readonly string[] = [];
  #text = "";

  /** The batch text of `parts` (two or more texts), built or reused. */
  join(parts: readonly string[]): string {
    const last = this.#parts;
    if (parts.length === last.length) {
      let i = 0;
      while (i < parts.length && parts[i] === last[i]) i++;
      if (i === parts.length) return this.#text;
    }
    this.#parts = parts.slice();
    return this.#text = `[${parts.join(",")}]`;
  }
}

// How frames are written: each at once; the tick's frames under one cork
// (Bun); the tick's text frames joined in one batch frame (negotiated).
const _DIRECT = 0;
const _CORK = 1;
const _JOIN = 2;
/** The bits of `#flags` that say how frames are written. */
const _HOW = 3;
/** Set in `#flags` when the adapter reports drains. */
const _DRAINS = 4;
/** Set in `#flags` once the side is closed: nothing more is taken. */
const _CLOSED = 8;
/** Set in `#flags` while a hook runs for a message this socket received. */
const _RECEIVING = 16;
/** Set in `#flags` when the socket's buffer grows only by what is sent: `#bound` is then kept. */
const _BOUNDED = 32;
/** Bytes a frame's header can add to the runtime's buffer, counted in `#bound`. */
const _HEADER_BYTES = 14;
/** A coalesced write is cut at this many bytes. */
const _COALESCE_BYTES = 16 * 1024;

/** Counters an outbound side needs only once something waits or is dropped. */
class _Rarely {
  messagesQueued = 0;
  messagesDropped = 0;
  bytesDropped = 0;
  /** `true` while `onDrop` runs: drops it causes are counted, not reported again. */
  reporting = false;
}

/**
 * The outbound side of one connection: every frame to the socket goes
 * through {@linkcode Outbound.offer}. While nothing waits and the socket
 * is under its high-water mark a frame is written now, or coalesced with
 * the tick's other frames (one cork on Bun, one batch frame for batch
 * clients); otherwise it waits in the bounded {@linkcode SendQueue} under
 * the overflow policy. Every drop is counted and reported to the owner.
 */
export class Outbound {
  readonly #shared: OutboundShared;
  readonly #owner: OutboundOwner;
  readonly #socket: Socket;
  /**
   * `_DIRECT`, `_CORK` or `_JOIN`, plus `_DRAINS`, `_CLOSED`, `_RECEIVING`,
   * `_BOUNDED`: one field, not five, for the memory of an idle session.
   */
  #flags: number;
  /** The settings' high-water mark, read once per frame: kept here, next to the other fields read. */
  readonly #highWaterMark: number;
  #pending: (string | Uint8Array<ArrayBuffer>)[] | undefined;
  #pendingBytes = 0;
  #queue: SendQueue | undefined;
  #rarely: _Rarely | undefined;
  #messagesSent = 0;
  #bytesSent = 0;
  /**
   * Under `_BOUNDED`, at least the socket's `bufferedAmount`: its last
   * reading plus what was written since (payloads and headers), so that
   * the socket is read only once this reaches the high-water mark.
   */
  #bound = 0;

  /**
   * @param shared The server's settings, scheduler and counters.
   * @param owner The connection.
   * @param socket The socket written to.
   * @param batch `true` if the client negotiated batch frames.
   * @param traits What the adapter says of the socket.
   */
  constructor(
    shared: OutboundShared,
    owner: OutboundOwner,
    socket: Socket,
    batch: boolean,
    traits: SocketTraits,
  ) {
    this.#shared = shared;
    this.#owner = owner;
    this.#socket = socket;
    this.#highWaterMark = shared.settings.highWaterMark;
    this.#flags = (batch ? _JOIN : socket.cork !== undefined ? _CORK : _DIRECT) |
      (traits.drains ? _DRAINS : 0) | (traits.sendsOnly ? _BOUNDED : 0);
    if ((this.#flags & _HOW) !== _DIRECT) shared.scheduler.coalescing(1);
  }

  /** `true` while a hook runs for a message this socket received (Bun corks those sends). */
  get receiving(): boolean {
    return (this.#flags & _RECEIVING) !== 0;
  }

  set receiving(value: boolean) {
    this.#flags = value ? this.#flags | _RECEIVING : this.#flags & ~_RECEIVING;
  }

  /** Messages handed to the socket. */
  get messagesSent(): number {
    return this.#messagesSent;
  }

  /** Bytes handed to the socket. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** Messages that ever waited in the queue. */
  get messagesQueued(): number {
    return this.#rarely?.messagesQueued ?? 0;
  }

  /** Messages dropped, for any reason. */
  get messagesDropped(): number {
    return this.#rarely?.messagesDropped ?? 0;
  }

  /** Bytes dropped. */
  get bytesDropped(): number {
    return this.#rarely?.bytesDropped ?? 0;
  }

  /** The send queue, once something waited. */
  get queue(): SendQueue | undefined {
    return this.#queue;
  }

  /**
   * Offers one frame. `frame`, if given, is the shared frame of a publish,
   * queued as it is instead of a new one.
   *
   * @returns What happened to it.
   */
  offer(data: string | Uint8Array<ArrayBuffer>, bytes: number, frame?: Frame): SendResult {
    const flags = this.#flags;
    if ((flags & _CLOSED) !== 0) return "closed";
    let queue = this.#queue;
    if ((queue === undefined || queue.length === 0) && this.#below(flags)) {
      const how = flags & _HOW;
      if (
        how === _DIRECT || (how === _CORK && (flags & _RECEIVING) !== 0) ||
        (how === _JOIN && typeof data !== "string")
      ) {
        // (A corking runtime already corks sends made in the socket's own handler.)
        if (this.#pendingBytes > 0) this.flushPending();
        return this.#write(data, bytes, 1) ? "sent" : "dropped";
      }
      const pending = this.#pending ??= [];
      if (pending.length === 0) this.#shared.scheduler.defer(this);
      pending.push(data);
      this.#pendingBytes += bytes;
      if (this.#pendingBytes >= _COALESCE_BYTES) this.flushPending();
      return "sent";
    }
    if (this.#pendingBytes > 0) this.flushPending(); // they are older: they go first
    const settings = this.#shared.settings;
    queue ??= this.#queue = new SendQueue(
      settings.maxQueueMessages,
      settings.maxQueueBytes,
      settings.overflow,
    );
    const result = queue.push(frame ?? { data, bytes });
    switch (result.kind) {
      case "queued":
        this.#rare().messagesQueued++;
        if ("dropped" in result) this.#dropped("overflow", result.dropped, result.droppedBytes);
        if ((flags & _DRAINS) === 0) this.#shared.scheduler.congested(this);
        return "queued";
      case "dropped":
        this.#dropped("overflow", 1, bytes);
        return "dropped";
      case "overflow": {
        const error = new QueueFullError(queue.length, queue.bytes, bytes);
        this.#dropped("overflow", 1, bytes);
        this.#shared.tally.overflowCloses++;
        this.#owner.overflowed(error);
        return "dropped";
      }
    }
  }

  /** Starts the socket's closing handshake. */
  closeSocket(code: number, reason: string): void {
    this.#socket.close(code, reason);
  }

  /** Writes the frames this tick coalesced: one batch frame, or all under one cork. */
  flushPending(): void {
    const pending = this.#pending;
    if (pending === undefined || pending.length === 0) return;
    const bytes = this.#pendingBytes;
    this.#pendingBytes = 0;
    if ((this.#flags & _HOW) === _JOIN) {
      const count = pending.length;
      // A batch socket's pending frames are all text: binary ones go at once.
      const frame = count === 1 ? pending[0] : this.#shared.joiner.join(pending as string[]);
      pending.length = 0;
      this.#write(frame, bytes, count);
      return;
    }
    const socket = this.#socket;
    let dropped = 0;
    let droppedBytes = 0;
    socket.cork!(() => {
      for (let i = 0; i < pending.length; i++) {
        const data = pending[i];
        let status: number | void = 0;
        try {
          status = socket.send(data); // inline: see `#write`
        } catch { /* closed under us: dropped */ }
        if (status === 0) {
          dropped++;
          droppedBytes += typeof data === "string" ? utf8Length(data) : data.byteLength;
        }
      }
    });
    const sent = pending.length - dropped;
    this.#bound += bytes + _HEADER_BYTES * pending.length;
    pending.length = 0;
    this.#messagesSent += sent;
    this.#bytesSent += bytes - droppedBytes;
    this.#shared.tally.messagesSent += sent;
    if (dropped > 0) this.#dropped("runtime", dropped, droppedBytes);
  }

  /**
   * Writes queued frames while the socket is under its high-water mark.
   *
   * @returns `true` if nothing waits any more.
   */
  flush(): boolean {
    const queue = this.#queue;
    if (queue === undefined) return true;
    const socket = this.#socket;
    const limit = this.#highWaterMark;
    while (
      (this.#flags & _CLOSED) === 0 && queue.length > 0 &&
      (this.#bound = socket.bufferedAmount) < limit
    ) {
      if ((this.#flags & _HOW) === _JOIN && typeof queue.peek()!.data === "string") {
        this.#flushBatch(queue);
      } else {
        const frame = queue.shift()!;
        this.#write(frame.data, frame.bytes, 1);
      }
    }
    return queue.length === 0 || (this.#flags & _CLOSED) !== 0;
  }

  /**
   * Closes the side: this tick's coalesced frames are written (they were
   * accepted as sent), queued ones are dropped (counted as `"closed"`), and
   * nothing more is taken.
   */
  close(): void {
    if ((this.#flags & _CLOSED) !== 0) return;
    this.flushPending();
    this.#flags |= _CLOSED;
    if ((this.#flags & _HOW) !== _DIRECT) this.#shared.scheduler.coalescing(-1);
    const queue = this.#queue;
    if (queue === undefined) return;
    this.#shared.scheduler.forget(this);
    if (queue.length > 0) this.#dropped("closed", queue.length, queue.bytes);
    queue.clear();
  }

  /** Writes consecutive queued text frames as one batch frame of at most `_COALESCE_BYTES`. */
  #flushBatch(queue: SendQueue): void {
    const parts: string[] = [];
    let bytes = 0;
    for (let next = queue.peek(); next !== undefined; next = queue.peek()) {
      if (typeof next.data !== "string") break;
      if (parts.length > 0 && bytes + next.bytes > _COALESCE_BYTES) break;
      queue.shift();
      parts.push(next.data);
      bytes += next.bytes;
    }
    this.#write(parts.length === 1 ? parts[0] : `[${parts.join(",")}]`, bytes, parts.length);
  }

  /**
   * Hands one frame holding `messages` messages to the socket; `false` if
   * the runtime refused it (counted as dropped).
   */
  #write(data: string | Uint8Array<ArrayBuffer>, bytes: number, messages: number): boolean {
    // The `try` is written here and in `flushPending`'s loop, not in a helper:
    // Bun's JIT does not inline a function that holds a `try`, and that call
    // cost a burst fan-out to 5,000 sockets about a fifth of its JS time.
    let status: number | void = 0;
    try {
      status = this.#socket.send(data);
    } catch { /* the socket closed under us; its close event follows */ }
    if (status === 0) {
      this.#dropped("runtime", messages, bytes);
      return false;
    }
    this.#messagesSent += messages;
    this.#bytesSent += bytes;
    this.#bound += bytes + _HEADER_BYTES + (messages > 1 ? messages + 1 : 0); // a batch's `[`, `,`s, `]`
    this.#shared.tally.messagesSent += messages;
    return true;
  }

  /**
   * Whether the socket's buffer and this tick's coalesced frames are under
   * the high-water mark. Under `_BOUNDED` the socket is read only when the
   * bound says it may not be.
   */
  #below(flags: number): boolean {
    const limit = this.#highWaterMark - this.#pendingBytes;
    if ((flags & _BOUNDED) !== 0 && this.#bound < limit) return true;
    return (this.#bound = this.#socket.bufferedAmount) < limit;
  }

  #rare(): _Rarely {
    return this.#rarely ??= new _Rarely();
  }

  /**
   * Counts dropped messages and reports them to the owner. Drops caused
   * while the owner reports (a send inside `onDrop`) are counted but not
   * reported again, so a hook that sends to a congested session cannot
   * recurse.
   */
  #dropped(reason: DropInfo["reason"], messages: number, bytes: number): void {
    const rare = this.#rare();
    const tally = this.#shared.tally;
    rare.messagesDropped += messages;
    rare.bytesDropped += bytes;
    tally.messagesDropped += messages;
    tally.bytesDropped += bytes;
    if (rare.reporting) return;
    rare.reporting = true;
    try {
      this.#owner.dropped({ reason, messages, bytes });
    } finally {
      rare.reporting = false;
    }
  }
}
