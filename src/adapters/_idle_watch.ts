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
  /**
   * The walks since its last inbound frame: its owner sets it to 0 on
   * every inbound frame (a pong too); the watch counts it up.
   */
  quiet: number;
  /** Its place in the watch's list, the watch's to set; -1 once forgotten. */
  slot: number;
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
 * heard from since the last walk is fine; one that was not is pinged; one
 * that was pinged at the last walk and still not heard from expires. So a
 * silent socket expires between `idleTimeout` and 1.5 × `idleTimeout`
 * after its last inbound frame, and only inbound traffic keeps one alive.
 * The timer runs only while there are sockets. The sockets are kept in an
 * array, each knowing its slot: on Bun a `Map` entry cost ~60 bytes of
 * heap per idle session, an array slot 8.
 */
export class IdleWatch {
  readonly #period: number;
  readonly #clock: IdleClock;
  readonly #sockets: Watched[] = [];
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
    return this.#sockets.length;
  }

  /** Watches a socket from now on (it counts as heard), starting the timer if it is the first. */
  add(socket: Watched): void {
    socket.quiet = 0;
    socket.slot = this.#sockets.push(socket) - 1;
    if (this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(this.#walk, this.#period);
    }
  }

  /**
   * Forgets a socket (closed), stopping the timer after the last.
   *
   * @returns `false` if it was not watched.
   */
  delete(socket: Watched): boolean {
    const sockets = this.#sockets;
    const slot = socket.slot;
    if (slot < 0 || sockets[slot] !== socket) return false;
    const last = sockets.pop()!;
    if (last !== socket) {
      sockets[slot] = last;
      last.slot = slot;
    }
    socket.slot = -1;
    if (sockets.length === 0) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    return true;
  }

  readonly #walk = (): void => {
    this.#timer = undefined;
    const sockets = this.#sockets;
    const expired: Watched[] = [];
    for (let i = 0; i < sockets.length; i++) {
      const socket = sockets[i];
      const quiet = ++socket.quiet; // 1: not heard since the last walk
      if (quiet === 2) socket.ping();
      else if (quiet > 2) expired.push(socket);
    }
    for (const socket of expired) {
      if (this.delete(socket)) socket.expire(); // (unless a ping's close took it out)
    }
    if (sockets.length > 0 && this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(this.#walk, this.#period);
    }
  };
}
