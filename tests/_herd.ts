/**
 * A herd of reconnecting clients and the figures of its reconnects, shared
 * by the reconnect-herd test (`tests/client_herd_test.ts`) and benchmark
 * (`bench/herd.ts`, `bench/herd_client.ts`): every client made by
 * `connect()`, traced through its events; times in epoch milliseconds
 * ({@linkcode epochNow}), comparable across processes on one machine.
 */
import { type Client, type ClientOptions, connect } from "../client/mod.ts";
import { timeout } from "./_child.ts";

/**
 * The time now in epoch milliseconds, sub-millisecond: `performance.timeOrigin
 * + performance.now()`, which Deno and Bun both have.
 *
 * @returns Milliseconds since the epoch.
 */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

type _In = Record<string, unknown>;
type _Req = Record<string, { input: unknown; output: unknown }>;

/** One client's reconnect, once {@linkcode Herd.arm} was called. */
export interface HerdTrace {
  /** When its connection was lost (its `reconnecting` event); `NaN` until then. */
  closedAt: number;
  /** The close code it saw. */
  code: number;
  /** When it was open again (its next `open` event); `NaN` until then. */
  openedAt: number;
  /** Attempts from the loss to the open, the one that opened included. */
  attempts: number;
  /** The backoff delays it drew, in ms, in order (one per `reconnecting` event). */
  delays: number[];
}

/** `count` clients of one URL, each traced from its first open through one reconnect. */
export class Herd {
  /** The clients. */
  readonly clients: Client[];
  /** When each was first open, epoch ms (`NaN` until then). */
  readonly firstOpen: number[];
  /** Each client's reconnect. */
  readonly traces: HerdTrace[];
  /** When the clients were made, epoch ms. */
  readonly startedAt: number;
  #armed = false;
  #opened = 0;
  #reopened = 0;
  #wake: () => void = () => {};

  /**
   * Makes the clients, all at once: each starts its first attempt at once.
   *
   * @param url The server's URL.
   * @param count How many.
   * @param options Their options (the same for all).
   */
  constructor(url: string, count: number, options: ClientOptions<_In, _In, _Req>) {
    this.startedAt = epochNow();
    this.firstOpen = new Array(count).fill(NaN);
    this.traces = Array.from({ length: count }, () => ({
      closedAt: NaN,
      code: 0,
      openedAt: NaN,
      attempts: 0,
      delays: [] as number[],
    }));
    this.clients = this.traces.map((trace, i) => {
      const client = connect(url, options);
      client.events.on("open", () => {
        if (Number.isNaN(this.firstOpen[i])) {
          this.firstOpen[i] = epochNow();
          this.#opened++;
        } else if (this.#armed && Number.isNaN(trace.openedAt)) {
          trace.openedAt = epochNow();
          this.#reopened++;
        } else return;
        this.#wake();
      });
      client.events.on("reconnecting", ({ code, delay }) => {
        if (!this.#armed || !Number.isNaN(trace.openedAt)) return;
        if (Number.isNaN(trace.closedAt)) {
          trace.closedAt = epochNow();
          trace.code = code;
        }
        trace.delays.push(delay);
      });
      client.events.on("connecting", () => {
        if (!Number.isNaN(trace.closedAt) && Number.isNaN(trace.openedAt)) trace.attempts++;
      });
      return client;
    });
  }

  /**
   * Waits until every client was open once, `ms` at the most.
   *
   * @param ms The longest wait.
   * @returns How many were open once by then.
   */
  opened(ms: number): Promise<number> {
    return this.#until(() => this.#opened, ms);
  }

  /** From now on, the next loss of each client and its reopening are traced. */
  arm(): void {
    this.#armed = true;
  }

  /**
   * Waits until every client that was armed opened again, `ms` at the most.
   *
   * @param ms The longest wait.
   * @returns How many opened again by then.
   */
  reopened(ms: number): Promise<number> {
    return this.#until(() => this.#reopened, ms);
  }

  /** Closes every client; resolves once all are closed. */
  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  async #until(count: () => number, ms: number): Promise<number> {
    const all = this.clients.length;
    await timeout(
      new Promise<void>((resolve) => {
        this.#wake = () => count() >= all && resolve();
        this.#wake();
      }),
      ms,
      undefined,
    );
    this.#wake = () => {};
    return count();
  }
}

/**
 * The `q`-quantile of sorted values (nearest rank).
 *
 * @param sorted The values, ascending.
 * @param q From 0 to 1.
 * @returns The value, `NaN` for none.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/**
 * Counts values in `buckets` equal slices of `[0, window)`; the last
 * element counts those at or past `window` (and below 0, none expected).
 *
 * @param values The values.
 * @param window The span sliced.
 * @param buckets How many slices.
 * @returns `buckets + 1` counts.
 */
export function histogram(values: readonly number[], window: number, buckets = 10): number[] {
  const counts = new Array(buckets + 1).fill(0);
  for (const v of values) {
    const k = v >= 0 && v < window ? Math.floor((v / window) * buckets) : buckets;
    counts[k]++;
  }
  return counts;
}

/**
 * Per 100 ms bucket from `from`, how many of `times` fall in it: a rate
 * series (× 10 for per second).
 *
 * @param times Epoch ms.
 * @param from The start of the first bucket.
 * @returns The counts, up to the last time's bucket.
 */
export function per100ms(times: readonly number[], from: number): number[] {
  const counts: number[] = [];
  for (const t of times) {
    const k = Math.max(0, Math.floor((t - from) / 100));
    while (counts.length <= k) counts.push(0);
    counts[k]++;
  }
  return counts;
}

/**
 * What the backoff formula gives for clients that lost a server which
 * listened again at `listenAt`: each draws `random(0, min(cap, base * 2^n))`
 * for n = 0, 1, … until its attempt falls at or after `listenAt` (earlier
 * attempts fail at once). Connect latency is left out.
 *
 * @param closedAt When each client lost the server, epoch ms.
 * @param listenAt When the server listened again, epoch ms.
 * @param options The backoff's `base` and `cap`, and `replicas` (draws per client).
 * @returns The reconnect times, ms from each loss, `replicas` per client.
 */
export function expectedReconnects(
  closedAt: readonly number[],
  listenAt: number,
  options: { base: number; cap: number; replicas?: number; random?: () => number },
): number[] {
  const { base, cap, replicas = 1, random = Math.random } = options;
  const times: number[] = [];
  for (let r = 0; r < replicas; r++) {
    for (const c of closedAt) {
      let t = 0;
      for (let n = 0; n < 64; n++) {
        t += Math.floor(random() * Math.min(cap, base * 2 ** n));
        if (c + t >= listenAt) break;
      }
      times.push(t);
    }
  }
  return times;
}
