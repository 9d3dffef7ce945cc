import type { ClientEventMap, ClientEvents } from "./events.ts";

/**
 * The events of one client. A listener that throws is reported as an
 * `error` event (to `console.error` if nobody listens to `error`), and the
 * others still run.
 */
export class Emitter implements ClientEvents {
  readonly #listeners = new Map<keyof ClientEventMap, Set<(data: never) => void>>();

  on<K extends keyof ClientEventMap>(
    name: K,
    listener: (data: ClientEventMap[K]) => void,
  ): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) this.#listeners.set(name, set = new Set());
    const entry = (data: never) => listener(data);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Calls every listener of an event, in order of `on`. */
  emit<K extends keyof ClientEventMap>(name: K, data: ClientEventMap[K]): void {
    const set = this.#listeners.get(name);
    if (set === undefined || set.size === 0) {
      if (name === "error") console.error((data as ClientEventMap["error"]).error);
      return;
    }
    for (const listener of [...set]) {
      try {
        (listener as (data: ClientEventMap[K]) => void)(data);
      } catch (error) {
        if (name === "error") console.error(error);
        else this.emit("error", { error });
      }
    }
  }
}
