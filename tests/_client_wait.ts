/**
 * Waits on a client's events, bounded: the loopback tests wait on what
 * happened, never on a sleep.
 */
import type { ClientEventMap, ClientEvents } from "../client/mod.ts";
import { timeout } from "./_child.ts";

/**
 * Resolves with the next `name` event that `accept` takes (any, if not
 * given), or with `undefined` after `ms`; stops listening either way.
 *
 * @typeParam K The event's name.
 * @param events The client's events.
 * @param name The event's name.
 * @param ms How long to wait, in milliseconds.
 * @param accept Which event to take.
 * @returns The event, or `undefined` on a timeout.
 */
export async function nextEvent<K extends keyof ClientEventMap>(
  events: ClientEvents,
  name: K,
  ms: number,
  accept: (event: ClientEventMap[K]) => boolean = () => true,
): Promise<ClientEventMap[K] | undefined> {
  let off: (() => void) | undefined;
  const seen = new Promise<ClientEventMap[K]>((resolve) => {
    off = events.on(name, (event) => accept(event) && resolve(event));
  });
  try {
    return await timeout(seen, ms, undefined);
  } finally {
    off?.();
  }
}

/** What a client delivered on one topic, in order, and a bounded wait for more. */
export interface Collected<T> {
  /** Everything delivered so far. */
  readonly got: T[];
  /** Resolves once `count` have been delivered, or after `ms` (10 s by default) anyway. */
  until(count: number, ms?: number): Promise<void>;
}

/**
 * Collects what a client delivers on one topic.
 *
 * @param on Subscribes a handler to the topic, e.g. `(fn) => client.on("tick", fn)`.
 * @param each Called with each item once it is collected, before any waiter is woken.
 * @returns The items and the wait.
 */
export function collect<T>(
  on: (handler: (data: T) => void) => void,
  each?: (data: T) => void,
): Collected<T> {
  const got: T[] = [];
  let wake: (() => void) | undefined;
  on((data) => {
    got.push(data);
    each?.(data);
    wake?.();
  });
  return {
    got,
    until: (count, ms = 10_000) =>
      timeout(
        new Promise<void>((resolve) => {
          wake = () => got.length >= count && resolve();
          wake();
        }),
        ms,
        undefined,
      ),
  };
}
