/**
 * The client process of the reconnect-herd benchmark (`bench/herd.ts`
 * starts it, pinned to its own core): C clients made by `connect()`
 * (`client/`), unmodified, against one server under test.
 *
 * 1. All C are made at once, each starting its first attempt at once (no
 *    backoff): the burst that measures the server's capacity. Once every
 *    one is open it prints one JSON line, {@linkcode CapacityLine}, and
 *    starts tracing.
 * 2. The harness restarts the server on the same port; each client loses
 *    its connection and reconnects with its backoff. Once every one is open
 *    again it prints one JSON line, {@linkcode HerdLine}, closes them all
 *    and exits.
 *
 * Times are epoch milliseconds (`performance.timeOrigin + performance.now()`),
 * comparable with the harness's. Past `timeoutMs` it prints what it has and
 * exits with status 1.
 *
 * ```sh
 * deno run -A bench/herd_client.ts '{"port":8080,"clients":1000,"base":500,"timeoutMs":60000}'
 * ```
 *
 * @module
 */
import { Herd, type HerdTrace } from "../tests/_herd.ts";
import { TOKEN } from "./servers/_behaviour.ts";

/** What to run. */
export interface HerdSpec {
  /** The server's port on 127.0.0.1. */
  port: number;
  /** How many clients. */
  clients: number;
  /** The backoff's base, in ms (the cap is the default, 20 s). */
  base: number;
  /** The longest each phase may take, in ms. */
  timeoutMs: number;
}

/** The first line: the burst. */
export interface CapacityLine {
  /** When the clients were made. */
  startedAt: number;
  /** When each was open (its `$hello` arrived), `NaN` (as `null`) if not in time. */
  opens: (number | null)[];
  /** Attempts the burst took, over all clients (C if none failed). */
  attempts: number;
}

/** The second line: the reconnects. */
export interface HerdLine {
  /** Each client's loss and reconnect. */
  traces: HerdTrace[];
}

async function main(): Promise<number> {
  const spec: HerdSpec = JSON.parse(Deno.args[0]);
  const herd = new Herd(`ws://127.0.0.1:${spec.port}/`, spec.clients, {
    params: { token: TOKEN },
    reconnect: { base: spec.base, maxFailedAttempts: Infinity },
    network: null,
  });
  const opened = await herd.opened(spec.timeoutMs);
  herd.arm();
  const attempts = herd.clients.reduce((sum, c) => sum + c.stats.attempts, 0);
  console.log(JSON.stringify({ startedAt: herd.startedAt, opens: herd.firstOpen, attempts }));
  if (opened < spec.clients) {
    console.error(`herd_client: ${opened} of ${spec.clients} open in ${spec.timeoutMs} ms`);
    return 1;
  }
  const reopened = await herd.reopened(spec.timeoutMs);
  console.log(JSON.stringify({ traces: herd.traces } satisfies HerdLine));
  await herd.close();
  if (reopened < spec.clients) {
    console.error(`herd_client: ${reopened} of ${spec.clients} back in ${spec.timeoutMs} ms`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
