import type { Clock } from "./_requests.ts";
import { ClientClosedError, RequestTimeoutError } from "./errors.ts";
import type { JoinResult } from "./options.ts";

interface _Waiter {
  readonly resolve: (result: JoinResult) => void;
  readonly reject: (error: Error) => void;
  timer: unknown;
}

/**
 * The promises of `join()` calls, by room, each with its timeout. A
 * timeout rejects the promise only: the client keeps joining the room.
 */
export class JoinWaiters {
  readonly #clock: Clock;
  readonly #waiters = new Map<string, Set<_Waiter>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A promise of the next answer to a join of `room`. */
  add(room: string, timeout: number): Promise<JoinResult> {
    return new Promise((resolve, reject) => {
      let set = this.#waiters.get(room);
      if (set === undefined) this.#waiters.set(room, set = new Set());
      const waiter: _Waiter = { resolve, reject, timer: undefined };
      waiter.timer = this.#clock.setTimeout(() => {
        set.delete(waiter);
        if (set.size === 0 && this.#waiters.get(room) === set) this.#waiters.delete(room);
        reject(new RequestTimeoutError("$join", timeout, false));
      }, timeout);
      set.add(waiter);
    });
  }

  /** Resolves every waiter of `room`. */
  resolve(room: string, result: JoinResult): void {
    for (const waiter of this.#take(room)) waiter.resolve(result);
  }

  /** Rejects every waiter of `room`. */
  fail(room: string, error: Error): void {
    for (const waiter of this.#take(room)) waiter.reject(error);
  }

  /** Rejects every waiter: the client closed. */
  closeAll(): void {
    for (const room of [...this.#waiters.keys()]) {
      this.fail(room, new ClientClosedError(`Cannot join room "${room}"`));
    }
  }

  #take(room: string): _Waiter[] {
    const set = this.#waiters.get(room);
    if (set === undefined) return [];
    this.#waiters.delete(room);
    for (const waiter of set) this.#clock.clearTimeout(waiter.timer);
    return [...set];
  }
}
