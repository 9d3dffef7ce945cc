import { HEARTBEAT_TEXT } from "./protocol.ts";
import type { Clock } from "./settings.ts";
import type { Tally } from "./stats.ts";

/** What the heartbeat needs of a v1 session's connection. */
export interface Beating {
  /** Messages handed to its socket so far. */
  readonly messagesSent: number;
  /** `true` while messages wait in its send queue (a heartbeat would only wait behind them). */
  readonly waiting: boolean;
  /** Sends a control message's text. */
  post(text: string): void;
}

/** What the walk remembers of one session. */
class _Beat {
  /** `messagesSent` at the last walk. */
  seen = 0;
  /** A time at or before the last frame it was sent. */
  since: number;

  constructor(now: number) {
    this.since = now;
  }
}

/**
 * The application heartbeat of v1 sessions (browsers cannot see
 * WebSocket pings): one server-wide timer walks the sessions every half
 * interval, O(n), and sends `{"topic":"$heartbeat"}` to each that was sent
 * nothing for `interval` ms, so that none is silent longer than that. A
 * session sent anything in the meantime gets none. The timer runs only
 * while there are sessions to walk.
 */
export class Heartbeat {
  readonly #interval: number;
  readonly #clock: Clock;
  readonly #tally: Tally;
  readonly #beats = new Map<Beating, _Beat>();
  #timer: unknown;
  #walkedAt = 0;
  #stopped = false;

  /**
   * @param interval Milliseconds; 0 turns the heartbeat off.
   * @param clock The server's timers.
   * @param tally Where heartbeats are counted.
   */
  constructor(interval: number, clock: Clock, tally: Tally) {
    this.#interval = interval;
    this.#clock = clock;
    this.#tally = tally;
  }

  /** The v1 sessions open now. */
  get size(): number {
    return this.#beats.size;
  }

  /** Walks a session from now on, starting the timer if it is the first. */
  add(target: Beating): void {
    const now = this.#clock.now();
    this.#beats.set(target, new _Beat(now));
    if (this.#timer === undefined && this.#interval > 0 && !this.#stopped) {
      this.#walkedAt = now;
      this.#schedule();
    }
  }

  /** Forgets a session (closed), stopping the timer after the last. */
  delete(target: Beating): void {
    if (!this.#beats.delete(target) || this.#beats.size > 0) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops the timer for good (shutdown). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(this.#walk, Math.max(1, Math.floor(this.#interval / 2)));
  }

  readonly #walk = (): void => {
    this.#timer = undefined;
    const now = this.#clock.now();
    const previous = this.#walkedAt;
    this.#walkedAt = now;
    const interval = this.#interval;
    for (const [target, beat] of this.#beats) {
      const sent = target.messagesSent;
      if (sent !== beat.seen) {
        // Sent to since the last walk: at `previous` at the earliest.
        beat.seen = sent;
        if (previous > beat.since) beat.since = previous;
      } else if (now - beat.since >= interval && !target.waiting) {
        target.post(HEARTBEAT_TEXT);
        this.#tally.heartbeats++;
        beat.since = now;
      }
    }
    if (this.#beats.size > 0 && !this.#stopped) this.#schedule();
  };
}
