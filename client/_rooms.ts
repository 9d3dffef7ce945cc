import type { Incoming } from "./_wire.ts";
import type { JoinResult } from "./options.ts";
import type { DuplicateEvent, GapEvent, RecoveryEvent } from "./events.ts";

/** What the client does with what the rooms decide. */
export interface RoomsOwner {
  /** Delivers a room message to the handlers. */
  deliver(message: Incoming): void;
  gap(event: GapEvent): void;
  duplicate(event: DuplicateEvent): void;
  recovery(event: RecoveryEvent): void;
}

/** The server's answer to a `$join`, as PROTOCOL.md gives it: what `join()` resolves with. */
export type JoinReply = JoinResult;

/** A `$join`'s data. */
export interface JoinData {
  readonly room: string;
  readonly since?: { readonly seq: number; readonly epoch: string };
}

interface _Room {
  /** Last seq delivered (or the position of the last answer), and its epoch. */
  seq: number | undefined;
  epoch: string | undefined;
  /** `idle`: not joined on this connection; `joining`: `$join` in flight; `joined`: answered. */
  phase: "idle" | "joining" | "joined";
  /** Answered on some connection: a later join is a re-join (it gets a `recovery` event). */
  answered: boolean;
  /** Whether the `$join` in flight gave `since`. */
  since: boolean;
  /** Room messages that arrived before the answer to the `$join` in flight. */
  buffer: Incoming[];
}

/** Room messages held while a join is answered; past it they are delivered early. */
const _MAX_BUFFER = 4096;

/**
 * The rooms a client joined and the position `{seq, epoch}` of each: it
 * builds each `$join` (with `since` after a reconnect), delivers room
 * messages in order, drops duplicates (`seq` not above the last
 * delivered), reports gaps, and turns each re-join's answer into a
 * `recovery` event. Messages of a room that arrive before its join's
 * answer are held, then delivered in seq order with the replay.
 *
 * Rooms the server put the session in (not joined here) are tracked per
 * connection only: duplicates and gaps within it, nothing across.
 */
export class Rooms {
  readonly #owner: RoomsOwner;
  readonly #rooms = new Map<string, _Room>();
  /** Last seq per room not joined by the client, on this connection. */
  #others = new Map<string, number>();

  constructor(owner: RoomsOwner) {
    this.#owner = owner;
  }

  /** The rooms joined, in order of joining. */
  names(): string[] {
    return [...this.#rooms.keys()];
  }

  /** A room's state, for `client.rooms`. */
  position(room: string): { seq?: number; epoch?: string; joined: boolean } | undefined {
    const state = this.#rooms.get(room);
    if (state === undefined) return undefined;
    return { seq: state.seq, epoch: state.epoch, joined: state.phase === "joined" };
  }

  /** Whether the room is joined (or being joined). */
  has(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** Adds a room (idle until its `$join` goes out). */
  add(room: string): void {
    if (this.#rooms.has(room)) return;
    this.#rooms.set(room, {
      seq: undefined,
      epoch: undefined,
      phase: "idle",
      answered: false,
      since: false,
      buffer: [],
    });
  }

  /** The data of the `$join` about to be sent; the room is then `joining`. */
  joinData(room: string): JoinData {
    const state = this.#rooms.get(room)!;
    state.phase = "joining";
    state.since = state.seq !== undefined && state.epoch !== undefined;
    return state.since ? { room, since: { seq: state.seq!, epoch: state.epoch! } } : { room };
  }

  /** A room message arrived. */
  message(message: Incoming): void {
    const room = message.room!;
    const seq = message.seq;
    if (seq === undefined) return this.#owner.deliver(message);
    const state = this.#rooms.get(room);
    if (state === undefined) return this.#other(room, seq, message);
    if (state.phase === "joining") {
      state.buffer.push(message);
      if (state.buffer.length >= _MAX_BUFFER) this.#flush(state, room);
      return;
    }
    this.#accept(state, room, message);
  }

  /** The answer to a `$join` arrived. */
  answered(reply: JoinReply): void {
    const state = this.#rooms.get(reply.room);
    if (state === undefined || state.phase !== "joining") return;
    const rejoin = state.answered;
    state.answered = true;
    state.phase = "joined";
    const room = reply.room;
    if (typeof reply.seq !== "number" || typeof reply.epoch !== "string") {
      // A server without history: no position, no resume.
      state.seq = state.epoch = undefined;
      if (rejoin) this.#owner.recovery({ room, recovered: false, reason: "no-history" });
      this.#flush(state, room);
      return;
    }
    if (state.since && reply.recovered === true) {
      this.#flush(state, room); // the replay: above since.seq, in order
      if (state.seq! < reply.seq) {
        this.#owner.gap({ room, expected: state.seq! + 1, received: reply.seq + 1 });
      }
      state.seq = Math.max(state.seq!, reply.seq);
      this.#owner.recovery({ room, recovered: true, seq: state.seq, epoch: reply.epoch });
      return;
    }
    if (rejoin) {
      const reason = reply.reason === "epoch" ? "epoch" : state.since ? "gap" : "no-history";
      this.#owner.recovery({
        room,
        recovered: false,
        reason,
        seq: reply.seq,
        epoch: reply.epoch,
      });
    }
    // A new position: what was held is delivered if it is not older than the
    // last delivered of the same epoch.
    if (state.epoch !== reply.epoch) state.seq = undefined;
    state.epoch = reply.epoch;
    this.#flush(state, room, false);
    state.seq = Math.max(state.seq ?? 0, reply.seq);
  }

  /**
   * The server refused a join (or re-join): the room is left, what was held
   * is delivered, and a re-join is reported as `recovery` with `"refused"`.
   */
  refused(room: string, error: Error): void {
    const state = this.#rooms.get(room);
    if (state === undefined || state.phase !== "joining") return;
    this.#rooms.delete(room);
    if (state.answered) this.#owner.recovery({ room, recovered: false, reason: "refused", error });
    this.#flush(state, room);
  }

  /** Leaves a room: what was held is delivered, the position forgotten. */
  remove(room: string): void {
    const state = this.#rooms.get(room);
    if (state === undefined) return;
    this.#rooms.delete(room);
    this.#flush(state, room);
  }

  /** The connection closed: every room is idle (to be re-joined); held messages are delivered. */
  lost(): void {
    for (const [room, state] of this.#rooms) {
      this.#flush(state, room);
      state.phase = "idle";
    }
    this.#others = new Map();
  }

  /** Delivers the held messages in seq order, dropping duplicates; with `gaps`, reports gaps. */
  #flush(state: _Room, room: string, gaps = true): void {
    if (state.buffer.length === 0) return;
    const held = state.buffer.sort((a, b) => a.seq! - b.seq!);
    state.buffer = [];
    for (const message of held) this.#accept(state, room, message, gaps);
  }

  #accept(state: _Room, room: string, message: Incoming, gaps = true): void {
    const seq = message.seq!;
    const last = state.seq;
    if (last !== undefined && seq <= last) {
      this.#owner.duplicate({ room, seq });
      return;
    }
    if (gaps && last !== undefined && seq > last + 1) {
      this.#owner.gap({ room, expected: last + 1, received: seq });
    }
    state.seq = seq;
    this.#owner.deliver(message);
  }

  #other(room: string, seq: number, message: Incoming): void {
    const last = this.#others.get(room);
    if (last !== undefined && seq <= last) {
      this.#owner.duplicate({ room, seq });
      return;
    }
    if (last !== undefined && seq > last + 1) {
      this.#owner.gap({ room, expected: last + 1, received: seq });
    }
    this.#others.set(room, seq);
    this.#owner.deliver(message);
  }
}
