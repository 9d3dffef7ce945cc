/**
 * The clients of the restart tests (tests/client_kill_test.ts), on the
 * relay of tests/fixtures/relay_app.ts: listeners that record every `n`
 * they get and where their `recovery` came, and a bounded way to wait for
 * what they record.
 */
import { type Client, connect, type RecoveryEvent } from "../client/mod.ts";
import { timeout } from "./_child.ts";
import {
  RELAY_ROOM,
  relayContract,
  type RelayIn,
  type RelayOut,
  type RelayRequests,
} from "./fixtures/relay_app.ts";

/** A client of the relay. */
export type RelayClient = Client<RelayIn, RelayOut, RelayRequests>;

/** Retries every few ms, forever (each wait below is bounded instead). */
const _FAST = { base: 20, cap: 100, maxFailedAttempts: Infinity };

/**
 * Connects a client of the relay that reconnects at once.
 *
 * @param url The relay's URL.
 * @returns The client.
 */
export function connectRelay(url: string): RelayClient {
  return connect(url, { contract: relayContract, reconnect: _FAST });
}

/** Calls back whoever waits when something changed. */
export class Signal {
  readonly #waiters = new Set<() => void>();

  /** Tells every waiter to look again. */
  notify(): void {
    for (const check of [...this.#waiters]) check();
  }

  /**
   * Waits until `test()` holds, looked at on every {@linkcode Signal.notify}.
   *
   * @param test What to wait for.
   * @param ms How long at the most.
   * @returns `true`, or `false` after `ms`.
   */
  until(test: () => boolean, ms: number): Promise<boolean> {
    let check!: () => void;
    const held = new Promise<boolean>((resolve) => {
      check = () => {
        if (!test()) return;
        this.#waiters.delete(check);
        resolve(true);
      };
      this.#waiters.add(check);
      check();
    });
    return timeout(held, ms, false).finally(() => this.#waiters.delete(check));
  }
}

/** A listener: a client in the room, and what it got. */
export interface Listener {
  readonly client: RelayClient;
  /** Every `n` delivered, in order. */
  readonly got: number[];
  /** The room sequence number of each. */
  readonly seqs: number[];
  /**
   * The `recovery` events of the room, each with how many `n` came before
   * it (`at`) and how long after the connection was lost (`ms`).
   */
  readonly recoveries: (RecoveryEvent & { at: number; ms: number })[];
  /** Whether `end` arrived. */
  ended: boolean;
}

/**
 * Connects a listener and joins the room.
 *
 * @param url The relay's URL.
 * @param signal Notified on every `n`, `end`, `recovery` and `open`.
 * @returns The listener, once joined.
 */
export async function listen(url: string, signal: Signal): Promise<Listener> {
  const client = connectRelay(url);
  let lostAt = 0;
  const listener: Listener = { client, got: [], seqs: [], recoveries: [], ended: false };
  client.on("n", (n, { seq }) => {
    listener.got.push(n);
    listener.seqs.push(seq ?? -1);
    signal.notify();
  });
  client.on("end", () => {
    listener.ended = true;
    signal.notify();
  });
  client.events.on("recovery", (event) => {
    if (event.room !== RELAY_ROOM) return;
    const ms = performance.now() - lostAt;
    listener.recoveries.push({ ...event, at: listener.got.length, ms });
    signal.notify();
  });
  client.events.on("state", ({ previous }) => {
    if (previous === "open") lostAt = performance.now();
  });
  client.events.on("open", () => signal.notify());
  await client.join(RELAY_ROOM, { timeout: 10_000 });
  return listener;
}

/** `[from, from + 1, ..., to]`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
