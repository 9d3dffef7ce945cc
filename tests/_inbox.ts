/**
 * Items that arrive over time (messages, printed lines, log lines), taken by
 * tests in any order with bounded waits: the chat example's tests.
 */

/**
 * Items that arrive over time, taken by tests in any order: `take()`
 * resolves with the first item, already here or still to come, that
 * matches, or fails after a bounded wait.
 */
export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters = new Set<{ match: (item: T) => boolean; resolve: (item: T) => void }>();
  readonly #name: string;
  readonly #ms: number;

  /**
   * @param name Named in the error of a wait that fails.
   * @param ms How long `take()` waits, in milliseconds.
   */
  constructor(name: string, ms = 3000) {
    this.#name = name;
    this.#ms = ms;
  }

  /** Everything pushed and not taken, in order. */
  get items(): readonly T[] {
    return this.#items;
  }

  /** Adds an item: it goes to the first waiter it matches, else it is kept. */
  push(item: T): void {
    for (const waiter of this.#waiters) {
      if (waiter.match(item)) {
        waiter.resolve(item);
        return;
      }
    }
    this.#items.push(item);
  }

  /** Takes the first item that matches, waiting for it at most the inbox's time. */
  take(match: (item: T) => boolean, what: string): Promise<T> {
    const index = this.#items.findIndex(match);
    if (index >= 0) return Promise.resolve(this.#items.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (item: T) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `${this.#name}: nothing matching ${what} within ${this.#ms} ms; ` +
              `received and not taken: ${JSON.stringify(this.#items)}`,
          ),
        );
      }, this.#ms);
      this.#waiters.add(waiter);
    });
  }

  /** Items received and not taken that match. */
  pending(match: (item: T) => boolean): T[] {
    return this.#items.filter(match);
  }
}
