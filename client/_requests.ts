import { ConnectionLostError, RequestTimeoutError } from "./errors.ts";

/** How a request ended: a value, or an error. */
export type Outcome = { readonly value: unknown } | { readonly error: Error };

/** A request the client is waiting on. */
interface _Pending {
  readonly id: number;
  readonly name: string;
  /** `$join` / `$leave`: no timeout of their own, handled by the client's rooms. */
  readonly internal: boolean;
  /** Called once, with the outcome. */
  readonly done: (outcome: Outcome) => void;
  sent: boolean;
  /** Timed out while in flight: kept (it holds a server slot) until answered or lost. */
  expired: boolean;
  timer: unknown;
}

/** The timer functions the client uses. */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

/**
 * The requests of one client: ids (unique for the client's life, across
 * connections), timeouts, and the count in flight (sent, not answered:
 * the server's `maxRequestsInFlight` applies to it). Each request settles
 * exactly once: by its reply, its timeout, a drop, a lost connection or
 * the client's close, whichever comes first.
 */
export class Requests {
  readonly #clock: Clock;
  readonly #unqueue: (id: number) => void;
  readonly #pending = new Map<number, _Pending>();
  #nextId = 1;
  #inFlight = 0;
  /** Requests that timed out (for stats). */
  timedOut = 0;

  /**
   * @param clock The timers.
   * @param unqueue Removes a request from the offline queue (on its timeout).
   */
  constructor(clock: Clock, unqueue: (id: number) => void) {
    this.#clock = clock;
    this.#unqueue = unqueue;
  }

  /** Sent and not answered (expired ones included). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests waiting for an outcome (expired ones excluded). */
  get size(): number {
    let n = 0;
    for (const p of this.#pending.values()) if (!p.expired) n++;
    return n;
  }

  /**
   * Registers a request.
   *
   * @param timeout In ms; `undefined` for none (internal requests).
   * @returns Its id.
   */
  add(name: string, done: (outcome: Outcome) => void, timeout?: number): number {
    const id = this.#nextId++;
    const pending: _Pending = {
      id,
      name,
      internal: timeout === undefined,
      done,
      sent: false,
      expired: false,
      timer: undefined,
    };
    if (timeout !== undefined) {
      pending.timer = this.#clock.setTimeout(() => this.#expire(pending, timeout), timeout);
    }
    this.#pending.set(id, pending);
    return id;
  }

  /** Forgets a request that could not be sent at all (its text did not serialize). */
  cancel(id: number): void {
    const pending = this.#pending.get(id);
    if (pending !== undefined) this.#forget(pending);
  }

  /** The request went out on the socket. */
  sent(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined || pending.sent) return;
    pending.sent = true;
    this.#inFlight++;
  }

  /**
   * A `$reply` arrived.
   *
   * @returns `false` if no request waits for it (late, or unknown).
   */
  answer(id: number, outcome: Outcome): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined || !pending.sent) return false;
    this.#forget(pending);
    if (pending.expired) return false;
    pending.done(outcome);
    return true;
  }

  /** The name of a request waiting for a reply. */
  name(id: number): string | undefined {
    return this.#pending.get(id)?.name;
  }

  /** Ends a request that was never sent (dropped from the queue) with `error`. */
  fail(id: number, error: Error): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#forget(pending);
    if (!pending.expired) pending.done({ error });
  }

  /**
   * The connection closed: every request in flight fails with a
   * {@linkcode ConnectionLostError} (an internal one too: its owner decides).
   * Requests not yet sent wait on.
   *
   * @returns How many user requests failed.
   */
  lost(code: number, reason: string): number {
    let failed = 0;
    for (const pending of [...this.#pending.values()]) {
      if (!pending.sent) continue;
      this.#forget(pending);
      if (pending.expired) continue;
      if (!pending.internal) failed++;
      pending.done({ error: new ConnectionLostError(pending.name, code, reason) });
    }
    return failed;
  }

  /** Ends every request with `error` (the client closed). */
  closeAll(error: (name: string) => Error): void {
    for (const pending of [...this.#pending.values()]) {
      this.#forget(pending);
      if (!pending.expired) pending.done({ error: error(pending.name) });
    }
  }

  #expire(pending: _Pending, timeout: number): void {
    pending.timer = undefined;
    if (pending.expired || !this.#pending.has(pending.id)) return;
    this.timedOut++;
    if (pending.sent) {
      pending.expired = true; // still holds its server slot until answered
    } else {
      this.#pending.delete(pending.id);
      this.#unqueue(pending.id);
    }
    pending.done({ error: new RequestTimeoutError(pending.name, timeout, pending.sent) });
  }

  #forget(pending: _Pending): void {
    this.#pending.delete(pending.id);
    if (pending.sent) this.#inFlight--;
    if (pending.timer !== undefined) {
      this.#clock.clearTimeout(pending.timer);
      pending.timer = undefined;
    }
  }
}
