/**
 * Full-jitter exponential backoff: the `n`-th delay (from 0) is
 * `random() * min(cap, base * 2 ** n)`. `n` grows by one per delay and goes
 * back to 0 only by {@linkcode Backoff.reset}.
 */
export class Backoff {
  readonly #base: number;
  readonly #cap: number;
  readonly #random: () => number;
  #n = 0;

  constructor(base: number, cap: number, random: () => number) {
    this.#base = base;
    this.#cap = cap;
    this.#random = random;
  }

  /** Delays handed out since the last reset. */
  get attempt(): number {
    return this.#n;
  }

  /** The upper bound of the `n`-th delay. */
  bound(n: number): number {
    // 2 ** n overflows to Infinity past n = 1023, and min() handles that.
    return Math.min(this.#cap, this.#base * 2 ** n);
  }

  /** The next delay, in ms. */
  next(): number {
    const r = this.#random();
    const unit = r >= 0 && r < 1 ? r : 0; // a broken random never stalls the client
    return Math.floor(unit * this.bound(this.#n++));
  }

  /** Starts over at `n = 0`. */
  reset(): void {
    this.#n = 0;
  }
}
