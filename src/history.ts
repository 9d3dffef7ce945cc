import { RingBuffer } from "./ring_buffer.ts";

/** Where a room's history stands: its last sequence number and its epoch. */
export interface RoomPosition {
  /** The last sequence number given in this epoch; 0 before the first message. */
  readonly seq: number;
  /** Names one unbroken history of the room; a new one means earlier messages are lost. */
  readonly epoch: string;
}

/** One message kept in a room's history: its sequence number and its frame. */
export interface HistoryEntry {
  /** Its sequence number in the room's epoch. */
  readonly seq: number;
  /** The frame's text: `{"topic","data","room","seq"}`, sent as it is (live and on replay). */
  readonly data: string;
  /** The text's UTF-8 size. */
  readonly bytes: number;
}

/**
 * What a history can send a session that comes back with a position:
 * every message after it (`recovered: true`), or why not.
 */
export type Recovery =
  | {
    readonly recovered: true;
    /** The messages after the position given, in order: none if it was the last. */
    readonly entries: readonly HistoryEntry[];
    /** The room's position now. */
    readonly position: RoomPosition;
  }
  | {
    readonly recovered: false;
    /** `"epoch"`: the position is of a lost history (a restart, the room dropped); `"gap"`: evicted. */
    readonly reason: "epoch" | "gap";
    /** The room's position now. */
    readonly position: RoomPosition;
  };

/** Counters of a history, as `server.stats` shows them (`history*`). */
export interface HistoryStats {
  /** Rooms with a history now. */
  readonly rooms: number;
  /** Messages kept now. */
  readonly messages: number;
  /** Bytes kept now. */
  readonly bytes: number;
  /** Messages evicted by a bound (messages, bytes, age or the total budget). */
  readonly evicted: number;
  /** Rooms whose history was dropped: no member and no message for the age bound. */
  readonly roomsDropped: number;
}

/**
 * The history of the rooms of one server (or of the servers that share
 * it): a sequence number and an epoch per room, and a bounded replay
 * window. The server calls it on every publish to a room it keeps, and on
 * every `$join` (see PROTOCOL.md). {@linkcode MemoryHistory} is the
 * in-process one; a backplane (Redis) implements the same rules:
 *
 * 1. **One place assigns positions.** `append` gives the room's next
 *    sequence number (1, 2, ... in each epoch, no gap, no repeat) and makes
 *    the frame's text from the encoded head: `head + seq + "}"`. On Redis,
 *    one script does both, so every node sees one order.
 * 2. **An epoch per unbroken history.** A room gets a new random epoch
 *    when its history starts: at its first `hold` or `append`, and again
 *    after it was dropped or lost (a restart without the shared store).
 * 3. **A bounded window** of the newest messages: at most `maxMessages`
 *    and `maxBytes` a room, none older than `maxAge`; past `maxTotalBytes`
 *    in all, the oldest of any room go first. Each eviction is counted.
 * 4. **Held rooms stay.** A server holds a room while it has members there
 *    (holds are counted). A room neither held nor sent to for `maxAge` is
 *    dropped (counted), so memory stays bounded; its next epoch is new.
 * 5. **Recovery is exact.** `since` returns every message after the
 *    position, or says why it cannot: the epoch differs, or the window
 *    starts after it.
 *
 * Every method is synchronous (the server replays and subscribes in one
 * step): a store outside the process answers from a local, ordered mirror.
 * @example The calls a server makes
 * ```ts
 * import { type History, MemoryHistory } from "@switchboard/ws/adapter";
 * import assert from "node:assert/strict";
 *
 * const history: History = new MemoryHistory();
 * const { epoch } = history.hold("lobby"); // a client joined: seq 0
 * const head = '{"topic":"said","data":"hi","room":"lobby","seq":';
 * const entry = history.append("lobby", head, head.length); // a publish
 * assert.equal(entry.data, head + "1}");
 * assert.deepEqual(history.since("lobby", { seq: 0, epoch }), {
 *   recovered: true,
 *   entries: [entry],
 *   position: { seq: 1, epoch },
 * });
 * ```
 */
export interface History {
  /** Whether a room has a history now (its messages are kept). */
  tracks(room: string): boolean;
  /**
   * Holds a room (not dropped until released), starting its history if it has none.
   *
   * @param room The room.
   * @returns Its position.
   */
  hold(room: string): RoomPosition;
  /** Releases one hold of a room. */
  release(room: string): void;
  /**
   * Gives a message of a room its sequence number and keeps it, starting
   * the room's history if it has none.
   *
   * @param room The room.
   * @param head The encoded message up to its sequence number: `{"topic",...,"seq":`.
   * @param headBytes The head's UTF-8 size.
   * @returns The entry, whose `data` is `head + seq + "}"`.
   */
  append(room: string, head: string, headBytes: number): HistoryEntry;
  /** A room's position; `undefined` if it has no history. */
  position(room: string): RoomPosition | undefined;
  /**
   * The messages of a room after a position, if the history has them all.
   *
   * @param room The room.
   * @param from The last position the client had.
   * @returns The messages, or why not; `undefined` if the room has no history.
   */
  since(room: string, from: RoomPosition): Recovery | undefined;
  /** Its counters now. */
  readonly stats: HistoryStats;
}

/** Options of {@linkcode MemoryHistory}, and the server's `history` option. */
export interface HistoryOptions {
  /**
   * The most messages kept per room.
   * @default {256}
   */
  maxMessages?: number;
  /**
   * The most bytes kept per room.
   * @default {1048576}
   */
  maxBytes?: number;
  /**
   * Milliseconds a message is kept, and an empty room's history (no member, no message) too.
   * @default {120000}
   */
  maxAge?: number;
  /**
   * The most bytes kept for every room together; past it the oldest messages of any room go.
   * @default {67108864}
   */
  maxTotalBytes?: number;
  /**
   * Milliseconds on a monotonic clock.
   * @default {performance.now}
   */
  now?: () => number;
}

/** One kept message, with what eviction needs; `dead` once evicted. */
class _Entry implements HistoryEntry {
  dead = false;
  constructor(
    readonly seq: number,
    public data: string,
    readonly bytes: number,
    readonly at: number,
    readonly room: _Room,
  ) {}
}

class _Room {
  seq = 0;
  bytes = 0;
  holds = 0;
  readonly window: RingBuffer<_Entry>;
  constructor(
    readonly name: string,
    readonly epoch: string,
    max: number,
    public idleSince: number,
  ) {
    this.window = new RingBuffer(max);
  }
}

/**
 * The in-process {@linkcode History}: a ring of messages per room, a
 * queue of every room's messages in age order (so that the age bound and
 * the total budget evict the oldest first), and the rooms neither held nor
 * sent to, in the order they went quiet. It has no timer: each call first
 * evicts what aged and drops rooms quiet for `maxAge`.
 *
 * | operation | complexity |
 * | --- | --- |
 * | `append()` | O(1) amortized |
 * | `hold()`, `release()`, `tracks()`, `position()` | O(1) amortized |
 * | `since()` | O(k) for k messages returned |
 *
 * @example Usage
 * ```ts
 * import { MemoryHistory } from "@switchboard/ws/adapter";
 * import assert from "node:assert/strict";
 *
 * const history = new MemoryHistory({ maxMessages: 2 });
 * const { epoch } = history.hold("lobby");
 * for (const n of [1, 2, 3]) history.append("lobby", `{"topic":"n","data":${n},"seq":`, 26);
 * const recovery = history.since("lobby", { seq: 1, epoch });
 * assert.ok(recovery?.recovered);
 * assert.deepEqual(recovery.entries.map((e) => e.seq), [2, 3]);
 * assert.equal(history.since("lobby", { seq: 0, epoch })?.recovered, false); // 1 was evicted
 * ```
 */
export class MemoryHistory implements History {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #maxAge: number;
  readonly #maxTotal: number;
  readonly #now: () => number;
  readonly #rooms = new Map<string, _Room>();
  /** Rooms neither held nor sent to, in the order they went quiet. */
  readonly #idle = new Set<_Room>();
  /** Every kept message in append order, with evicted ones (`dead`) not yet passed. */
  #order: _Entry[] = [];
  #head = 0;
  #dead = 0;
  #messages = 0;
  #bytes = 0;
  #evicted = 0;
  #roomsDropped = 0;

  /**
   * Creates an empty history.
   *
   * @param options The bounds and the clock.
   * @throws {RangeError} If a bound is not a positive integer.
   */
  constructor(options: HistoryOptions = {}) {
    this.#maxMessages = _bound("maxMessages", options.maxMessages ?? 256, 2 ** 30);
    this.#maxBytes = _bound("maxBytes", options.maxBytes ?? 1024 * 1024);
    this.#maxAge = _bound("maxAge", options.maxAge ?? 120_000, Infinity);
    this.#maxTotal = _bound("maxTotalBytes", options.maxTotalBytes ?? 64 * 1024 * 1024);
    const now = options.now;
    this.#now = now === undefined ? () => performance.now() : () => now();
  }

  get stats(): HistoryStats {
    this.#tidy();
    return {
      rooms: this.#rooms.size,
      messages: this.#messages,
      bytes: this.#bytes,
      evicted: this.#evicted,
      roomsDropped: this.#roomsDropped,
    };
  }

  tracks(room: string): boolean {
    if (this.#rooms.size === 0) return false; // a server no v1 client joined a room of
    this.#tidy();
    return this.#rooms.has(room);
  }

  hold(room: string): RoomPosition {
    const now = this.#tidy();
    const state = this.#room(room, now);
    if (state.holds++ === 0) this.#idle.delete(state);
    return { seq: state.seq, epoch: state.epoch };
  }

  release(room: string): void {
    const state = this.#rooms.get(room);
    if (state === undefined || state.holds === 0) return;
    if (--state.holds === 0) this.#quiet(state, this.#now());
  }

  append(room: string, head: string, headBytes: number): HistoryEntry {
    const now = this.#tidy();
    const state = this.#room(room, now);
    const seq = ++state.seq;
    const data = head + seq + "}";
    const entry = new _Entry(seq, data, headBytes + data.length - head.length, now, state);
    const window = state.window;
    if (window.length >= this.#maxMessages) this.#evict(window.peek()!);
    window.push(entry);
    state.bytes += entry.bytes;
    this.#bytes += entry.bytes;
    this.#messages++;
    this.#order.push(entry);
    while (state.bytes > this.#maxBytes) this.#evict(window.peek()!);
    while (this.#bytes > this.#maxTotal) this.#evict(this.#oldest()!);
    if (state.holds === 0) this.#quiet(state, now);
    return entry;
  }

  position(room: string): RoomPosition | undefined {
    this.#tidy();
    const state = this.#rooms.get(room);
    return state && { seq: state.seq, epoch: state.epoch };
  }

  since(room: string, from: RoomPosition): Recovery | undefined {
    this.#tidy();
    const state = this.#rooms.get(room);
    if (state === undefined) return undefined;
    const position = { seq: state.seq, epoch: state.epoch };
    if (from.epoch !== state.epoch || from.seq > state.seq) {
      return { recovered: false, reason: "epoch", position };
    }
    const window = state.window;
    const first = window.length > 0 ? window.peek()!.seq : state.seq + 1;
    if (from.seq + 1 < first) return { recovered: false, reason: "gap", position };
    const entries: HistoryEntry[] = [];
    for (let i = from.seq + 1 - first; i < window.length; i++) entries.push(window.at(i)!);
    return { recovered: true, entries, position };
  }

  #room(name: string, now: number): _Room {
    let state = this.#rooms.get(name);
    if (state === undefined) {
      state = new _Room(name, _epoch(), this.#maxMessages, now);
      this.#rooms.set(name, state);
      this.#idle.add(state);
    }
    return state;
  }

  /** A room nobody holds was sent to, or released: it is dropped `maxAge` after. */
  #quiet(state: _Room, now: number): void {
    state.idleSince = now;
    this.#idle.delete(state);
    this.#idle.add(state);
  }

  /** Evicts what aged, drops rooms quiet for `maxAge`; returns the time. */
  #tidy(): number {
    const now = this.#now();
    const maxAge = this.#maxAge;
    for (let entry = this.#oldest(); entry !== undefined; entry = this.#oldest()) {
      if (now - entry.at < maxAge) break;
      this.#evict(entry);
    }
    for (const state of this.#idle) {
      if (now - state.idleSince < maxAge) break;
      while (state.window.length > 0) this.#evict(state.window.peek()!);
      this.#idle.delete(state);
      this.#rooms.delete(state.name);
      this.#roomsDropped++;
    }
    return now;
  }

  /** The oldest message kept, passing evicted ones; compacts the queue as it goes. */
  #oldest(): _Entry | undefined {
    const order = this.#order;
    while (this.#head < order.length && order[this.#head].dead) {
      this.#head++;
      this.#dead--;
    }
    if (this.#head + this.#dead > 1024 && (this.#head + this.#dead) * 2 > order.length) {
      this.#order = order.slice(this.#head).filter((entry) => !entry.dead);
      this.#head = 0;
      this.#dead = 0;
    }
    return this.#order[this.#head];
  }

  /** Evicts the oldest message of its room. */
  #evict(entry: _Entry): void {
    const state = entry.room;
    state.window.shift();
    state.bytes -= entry.bytes;
    this.#bytes -= entry.bytes;
    this.#messages--;
    this.#evicted++;
    entry.dead = true;
    entry.data = ""; // its text is freed now (queues hold frames of their own), the entry later
    this.#dead++;
  }
}

function _bound(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === Infinity && max === Infinity) return value;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(
      `Invalid history option "${name}": expected an integer from 1 to ${max}, got ${value}`,
    );
  }
  return value;
}

/** A random epoch: 12 hex digits (48 bits). */
function _epoch(): string {
  const hex = (byte: number) => byte.toString(16).padStart(2, "0");
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), hex).join("");
}
