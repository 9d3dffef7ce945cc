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
