import type { Clock } from "./settings.ts";
import type { Outbound, WriteScheduler } from "./outbound.ts";

/** How often congested sockets are revisited on runtimes without drain events, in ms. */
const _DRAIN_POLL_MS = 5;

/**
 * The server-wide write scheduler: writes every outbound side's coalesced
 * frames at the end of the tick, and revisits only the congested sides
 * (on runtimes that report no drains) until their queues are empty.
 */
export class Scheduler implements WriteScheduler {
  readonly #clock: Clock;
  #deferred: Outbound[] = [];
  #spare: Outbound[] = [];
  readonly #congested = new Set<Outbound>();
  #pollTimer: unknown;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  defer(outbound: Outbound): void {
    this.#deferred.push(outbound);
    if (this.#deferred.length === 1) queueMicrotask(this.#writeDeferred);
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

  readonly #writeDeferred = (): void => {
    const outbounds = this.#deferred;
    this.#deferred = this.#spare; // frames deferred while writing go to the next round
    for (let i = 0; i < outbounds.length; i++) outbounds[i].flushPending();
    outbounds.length = 0;
    this.#spare = outbounds;
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
