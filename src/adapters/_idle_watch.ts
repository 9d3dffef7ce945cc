/** The timers an {@linkcode IdleWatch} runs on. */
export interface IdleClock {
  /** Like `globalThis.setTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Like `globalThis.clearTimeout`. */
  clearTimeout(id: unknown): void;
}

/** The close code of an idle timeout: Deno's. */
export const IDLE_CODE = 1001;
/** The close reason of an idle timeout: Deno's. */
export const IDLE_REASON = "No response from ping frame.";

/** The runtime's own timers. */
const _TIMERS: IdleClock = Object.freeze({
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (id: unknown): void => clearTimeout(id as number),
});

/** A socket an {@linkcode IdleWatch} watches. */
export interface Watched {
  /** Set to `true` by its owner on every inbound frame (a pong too); the watch resets it. */
  heard: boolean;
  /** Sends a ping. */
  ping(): void;
  /** Nothing came back in time: closes it as timed out. */
  expire(): void;
}

/**
 * The idle timeout of Deno, for a runtime whose own one is defeated by
 * the server's sends: Bun re-arms its idle timer and forgets the ping it
 * is waiting for on every frame it sends (oven-sh/bun#39255), so a peer
 * that went silent behind a dead proxy is never closed while the server
 * keeps sending it heartbeats or room messages.
 *
 * One timer walks the sockets every half `idleTimeout`, O(n): a socket
 * that was heard from since the last walk is fine; one that was not is
 * pinged; one that was pinged at the last walk and still not heard from
 * expires. So a silent socket expires between `idleTimeout` and 1.5 ×
 * `idleTimeout` after its last inbound frame, and only inbound traffic
 * keeps one alive. The timer runs only while there are sockets.
 */
export class IdleWatch {
  readonly #period: number;
  readonly #clock: IdleClock;
  /** Each socket, and whether it was pinged at the last walk. */
  readonly #sockets = new Map<Watched, boolean>();
  #timer: unknown;

  /**
   * @param idleTimeout Seconds; more than 0.
   * @param clock The timers (the runtime's by default).
   */
  constructor(idleTimeout: number, clock: IdleClock = _TIMERS) {
    this.#period = Math.max(1, Math.floor(idleTimeout * 1000 / 2));
    this.#clock = clock;
  }

  /** The sockets watched now. */
  get size(): number {
    return this.#sockets.size;
  }

  /** Watches a socket from now on (it counts as heard), starting the timer if it is the first. */
  add(socket: Watched): void {
    socket.heard = true;
    this.#sockets.set(socket, false);
    if (this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(this.#walk, this.#period);
    }
  }

  /** Forgets a socket (closed), stopping the timer after the last. */
  delete(socket: Watched): void {
    if (!this.#sockets.delete(socket) || this.#sockets.size > 0) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #walk = (): void => {
    this.#timer = undefined;
    const expired: Watched[] = [];
    for (const [socket, pinged] of this.#sockets) {
      if (socket.heard) {
        socket.heard = false;
        if (pinged) this.#sockets.set(socket, false);
      } else if (!pinged) {
        this.#sockets.set(socket, true);
        socket.ping();
      } else {
        expired.push(socket);
      }
    }
    for (const socket of expired) {
      this.#sockets.delete(socket);
      socket.expire();
    }
    if (this.#sockets.size > 0 && this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(this.#walk, this.#period);
    }
  };
}
