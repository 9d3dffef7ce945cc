import type { Outbound, WriteScheduler } from "./outbound.ts";
import type { Clock } from "./settings.ts";

/** How often congested sockets are revisited on runtimes without drain events, in ms. */
const _DRAIN_POLL_MS = 5;

/**
 * The server-wide write scheduler. It writes the outbound sides' coalesced
 * frames, and revisits only the congested sides (on runtimes that report
 * no drains) until their queues are empty.
 *
 * When coalesced frames are written depends on how busy the server is:
 *
 * - **Idle**: at the end of the current microtask checkpoint, as soon as the
 *   handler that sent them returns. A lone message waits for nothing.
 * - **Busy** (a second inbound message arrived in this event-loop turn, or
 *   the last turn had more than one): at the end of the turn, so that all
 *   the inbound messages the runtime dispatched in it (a chat relay
 *   publishes once for each) reach each socket in one write: one cork on
 *   Bun, one batch frame for batch clients.
 *
 * While no side that coalesces is open (Deno with plain clients only) the
 * turns are not watched at all.
 */
export class Scheduler implements WriteScheduler {
  readonly #clock: Clock;
  /** Sides to write at the end of this microtask checkpoint, and the spare list. */
  #soon: Outbound[] = [];
  #soonSpare: Outbound[] = [];
  /** Sides to write at the end of this event-loop turn, and the spare list. */
  #turn: Outbound[] = [];
  #turnSpare: Outbound[] = [];
  /** Outbound sides that coalesce (cork or batch) open now. */
  #coalescing = 0;
  /** Inbound messages dispatched in this turn so far. */
  #received = 0;
  /** The last turn dispatched more than one inbound message. */
  #busy = false;
  /** The end of this turn is scheduled. */
  #turnEnding = false;
  readonly #congested = new Set<Outbound>();
  #pollTimer: unknown;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** An inbound message is about to be handled: it counts toward this turn's load. */
  received(): void {
    // Nothing coalesces (Deno, plain clients only): how busy the turn is
    // changes nothing, and its end need not be watched (a `setImmediate` a
    // message cost Deno's echo ~5% of its round trip).
    if (this.#coalescing === 0) return;
    this.#received++;
    if (!this.#turnEnding) this.#endThisTurn();
  }

  coalescing(change: 1 | -1): void {
    this.#coalescing += change;
  }

  defer(outbound: Outbound): void {
    if (this.#busy || this.#received > 1) {
      this.#turn.push(outbound);
      if (!this.#turnEnding) this.#endThisTurn();
      return;
    }
    this.#soon.push(outbound);
    if (this.#soon.length === 1) queueMicrotask(this.#writeSoon);
  }

  congested(outbound: Outbound): void {
    this.#congested.add(outbound);
    this.#pollTimer ??= this.#clock.setTimeout(this.#poll, _DRAIN_POLL_MS);
  }

  forget(outbound: Outbound): void {
    this.#congested.delete(outbound);
    if (this.#congested.size === 0) this.stop();
  }

  /** Stops polling and forgets every congested side. */
  stop(): void {
    if (this.#pollTimer !== undefined) this.#clock.clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#congested.clear();
  }

  #endThisTurn(): void {
    this.#turnEnding = true;
    this.#clock.setImmediate(this.#endTurn);
  }

  readonly #writeSoon = (): void => {
    const outbounds = this.#soon;
    this.#soon = this.#soonSpare; // sides deferred while writing go to the next round
    _writeAll(outbounds);
    this.#soonSpare = outbounds;
  };

  readonly #endTurn = (): void => {
    this.#turnEnding = false;
    this.#busy = this.#received > 1;
    this.#received = 0;
    const outbounds = this.#turn;
    this.#turn = this.#turnSpare;
    _writeAll(outbounds);
    this.#turnSpare = outbounds;
  };

  readonly #poll = (): void => {
    this.#pollTimer = undefined;
    for (const outbound of this.#congested) {
      if (outbound.flush()) this.#congested.delete(outbound);
    }
    if (this.#congested.size > 0) {
      this.#pollTimer = this.#clock.setTimeout(this.#poll, _DRAIN_POLL_MS);
    }
  };
}

function _writeAll(outbounds: Outbound[]): void {
  for (let i = 0; i < outbounds.length; i++) outbounds[i].flushPending();
  outbounds.length = 0;
}
