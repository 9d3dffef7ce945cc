/**
 * The reconnect-herd benchmark of issue 12: `deno run -A bench/herd.ts`.
 *
 * For each server under test (`switchboard_deno`, `switchboard_bun` from
 * `bench/servers/`, pinned to core 0 where `taskset` exists), a client
 * process (`bench/herd_client.ts`, pinned to core 1) makes C clients with
 * `connect()` from `client/`, all at once: that burst, every client
 * attempting at once with no backoff, measures the server's capacity in
 * connects/s. Then the server is stopped (SIGTERM: it exits at once, the
 * clients see 1006) and started again on the same port, and every client
 * reconnects with its backoff (full jitter, base 500 ms by default, cap
 * 20 s). It prints, as Markdown:
 *
 * - the reconnect times (from each client's loss to its next open): min,
 *   p10 … p90, max, and a histogram in 10 buckets of the first window,
 *   next to what the formula gives for the same losses and the same down
 *   time (each client draws `random(0, min(cap, base·2^n))` until its
 *   attempt falls after the server listens again; connect latency left out);
 * - connects/s: the capacity, the burst's sustained rate (from the 10th
 *   to the 90th percentile of its opens: the ramp and the stragglers left
 *   out), with its mean and its peak per 100 ms; the herd's peak per 100 ms
 *   and mean; and the ratio of the herd's peak to the capacity.
 *
 * A connect is counted when the client sees it open (the server's
 * `$hello` arrived): one loopback round trip after the server took it.
 * The client process is the same in both phases, so the capacity is the
 * server's with this client; a client-bound burst shows in the CPU
 * columns of `load.ts`, not here.
 *
 * Flags: `--servers=switchboard_deno,switchboard_bun`, `--clients=1000`,
 * `--base=500`, `--rounds=1` (each server that many times, alternating the
 * order). Every wait is bounded (60 s a phase); every child is killed at
 * the end, also on failure or Ctrl-C.
 *
 * @module
 */
import {
  epochNow,
  expectedReconnects,
  type HerdTrace,
  histogram,
  per100ms,
  quantile,
} from "../tests/_herd.ts";
import {
  bunBinary,
  flag,
  hasTaskset,
  output,
  pinned,
  runMain,
  type RunningServer,
  type ServerDef,
  spawn,
  startServer,
  table,
  timeout,
} from "./_process.ts";
import type { CapacityLine, HerdLine, HerdSpec } from "./herd_client.ts";

/** The servers under test, recording when each session opened (`GET /arrivals`). */
const SERVERS: readonly ServerDef[] = [
  { name: "switchboard_deno", runtime: "deno", script: "switchboard_deno", args: ["--arrivals"] },
  { name: "switchboard_bun", runtime: "bun", script: "switchboard_bun", args: ["--arrivals"] },
];

/** The client's backoff cap (its default). */
const CAP = 20_000;
/** The longest each phase of a run may take. */
const PHASE_MS = 60_000;
const CLIENT = new URL("./herd_client.ts", import.meta.url).pathname;

/** One run's figures. */
interface Run {
  readonly name: string;
  readonly base: number;
  readonly clients: number;
  /** Reconnect times, ms, sorted. */
  readonly times: number[];
  /** The formula's, for the same losses and down time (20 draws per client), sorted. */
  readonly expected: number[];
  /** Burst, at the server: connects/s sustained (p10 to p90), first to last, peak per 100 ms. */
  readonly capacity: number;
  readonly burstSpan: number;
  readonly burstPeak: number;
  /** Burst, at the client: C / from the start to the last open. */
  readonly burstMean: number;
  readonly burstAttempts: number;
  /** Herd, at the server: connects/s, mean (first loss to last arrival) and peak per 100 ms. */
  readonly herdMean: number;
  readonly herdPeak: number;
  /** From the first loss to the new server listening, ms. */
  readonly down: number;
  /** Clients that needed more than one attempt. */
  readonly retried: number;
}

/** Runs one server: burst, restart, herd. */
async function runOnce(
  def: ServerDef,
  options: { taskset: boolean; bun?: string; clients: number; base: number },
): Promise<Run> {
  let server: RunningServer | undefined;
  try {
    server = await startServer(def, options);
    const port = server.port;
    const { clients, base } = options;
    const spec: HerdSpec = { port, clients, base, timeoutMs: PHASE_MS };
    const child = spawn(
      pinned(options.taskset, 1, [Deno.execPath(), "run", "-A", CLIENT, JSON.stringify(spec)]),
    );
    try {
      const first = await timeout(child.first, PHASE_MS + 5000, null);
      const burst: CapacityLine = JSON.parse(first ?? "null");
      if (burst === null || burst.opens.some((t) => t === null)) {
        throw new Error(`the burst did not open every client: ${first?.slice(0, 200)}`);
      }
      const burstArrivals = await arrivals(port);
      await server.stop();
      server = await startServer({ ...def, args: [...def.args ?? [], `--port=${port}`] }, options);
      const listenAt = epochNow();
      const status = await timeout(child.process.status, PHASE_MS + 5000, null);
      await child.wait(2000);
      if (!status?.success) throw new Error("the herd did not reconnect in time");
      const { traces }: HerdLine = JSON.parse(child.lines.at(-1)!);
      const server2 = { burst: burstArrivals, herd: await arrivals(port) };
      return figures(def.name, options, burst, traces as HerdTrace[], listenAt, server2);
    } finally {
      child.kill();
    }
  } finally {
    await server?.stop();
  }
}

function figures(
  name: string,
  options: { clients: number; base: number },
  burst: CapacityLine,
  traces: HerdTrace[],
  listenAt: number,
  arrived: { burst: number[]; herd: number[] },
): Run {
  const opens = burst.opens as number[];
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  const closed = traces.map((t) => t.closedAt);
  const firstLoss = Math.min(...closed);
  const first = Math.min(...arrived.burst), last = Math.max(...arrived.burst);
  return {
    name,
    base: options.base,
    clients: options.clients,
    times: sorted(traces.map((t) => t.openedAt - t.closedAt)),
    expected: sorted(expectedReconnects(closed, listenAt, { ...options, cap: CAP, replicas: 20 })),
    capacity: sustained(arrived.burst),
    burstSpan: (arrived.burst.length - 1) / Math.max(1, last - first) * 1000,
    burstPeak: Math.max(...per100ms(arrived.burst, first)) * 10,
    burstMean: opens.length / ((Math.max(...opens) - burst.startedAt) / 1000),
    burstAttempts: burst.attempts,
    herdMean: arrived.herd.length / ((Math.max(...arrived.herd) - firstLoss) / 1000),
    herdPeak: Math.max(...per100ms(arrived.herd, firstLoss)) * 10,
    down: listenAt - firstLoss,
    retried: traces.filter((t) => t.attempts > 1).length,
  };
}

/** When each session of the server on `port` opened, epoch ms (`GET /arrivals`). */
async function arrivals(port: number): Promise<number[]> {
  const response = await fetch(`http://127.0.0.1:${port}/arrivals`);
  if (!response.ok) throw new Error(`GET /arrivals answered ${response.status}`);
  return await response.json();
}

/**
 * The rate at which the server took a burst's connections while every
 * client was waiting: from the 10th to the 90th percentile of its
 * arrivals, leaving out the ramp and the stragglers.
 */
function sustained(opens: readonly number[]): number {
  const sorted = [...opens].sort((a, b) => a - b);
  const from = quantile(sorted, 0.1), to = quantile(sorted, 0.9);
  return (0.8 * sorted.length) / Math.max(1, to - from) * 1000;
}

const QUANTILES: readonly [string, number][] = [
  ["min", 0],
  ["p10", 0.1],
  ["p25", 0.25],
  ["p50", 0.5],
  ["p75", 0.75],
  ["p90", 0.9],
  ["max", 1],
];

const ms = (v: number) => `${Math.round(v)} ms`;
const rate = (v: number) => v >= 1000 ? `${(v / 1000).toFixed(1)}k/s` : `${Math.round(v)}/s`;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function report(runs: Run[]): string {
  const columns = runs.flatMap((r) => [r.name, "formula"]);
  const distribution = table(
    ["reconnect time (loss → open)", ...columns],
    QUANTILES.map(([label, q]) => [
      label,
      ...runs.flatMap((r) => [ms(quantile(r.times, q)), ms(quantile(r.expected, q))]),
    ]),
  );
  const histograms = runs.map((r) => {
    const got = histogram(r.times, r.base);
    const want = histogram(r.expected, r.base);
    const step = r.base / 10;
    const lines = got.map((count, k) => {
      const label = (k < 10 ? `${k * step}–${(k + 1) * step} ms` : `≥ ${r.base} ms`).padStart(14);
      const share = count / r.times.length;
      const bar = "#".repeat(Math.round(share * 100)).padEnd(30);
      const formula = want[k] / r.expected.length;
      return `${label} ${bar} ${pct(share).padStart(6)}  (formula ${pct(formula).padStart(6)})`;
    });
    return [`${r.name}: reconnect times in 10 buckets of the first window`, ...lines].join("\n");
  });
  const rows: [string, (r: Run) => string][] = [
    ["**capacity**: burst of C at once, sustained (p10 → p90)", (r) => rate(r.capacity)],
    ["burst: first → last arrival", (r) => rate(r.burstSpan)],
    ["burst: peak per 100 ms", (r) => rate(r.burstPeak)],
    ["burst as the clients saw it (C / from the start to the last open)", (r) => rate(r.burstMean)],
    ["herd: peak per 100 ms", (r) => rate(r.herdPeak)],
    ["herd: mean (C / from the first loss to the last arrival)", (r) => rate(r.herdMean)],
    ["formula: C / base (uniform over the first window)", (r) => rate(r.clients / r.base * 1000)],
    ["**herd peak / capacity**", (r) => `${(r.herdPeak / r.capacity).toFixed(2)}×`],
    ["herd peak / burst peak", (r) => `${(r.herdPeak / r.burstPeak).toFixed(2)}×`],
    ["down time (first loss → listening again)", (r) => ms(r.down)],
    ["clients that needed > 1 attempt", (r) => pct(r.retried / r.clients)],
    ["attempts in the burst (C if none failed)", (r) => String(r.burstAttempts)],
  ];
  const connects = table(
    ["connects/s", ...runs.map((r) => r.name)],
    rows.map(([label, cell]) => [label, ...runs.map(cell)]),
  );
  return [distribution, "", "```", histograms.join("\n\n"), "```", "", connects].join("\n");
}

async function main(): Promise<number> {
  for (const arg of Deno.args) {
    if (!/^--(servers=.+|clients=\d+|base=\d+|rounds=\d+)$/.test(arg)) {
      console.error(`Unknown argument "${arg}"`);
      return 2;
    }
  }
  const names = flag("servers")?.split(",");
  const clients = Number(flag("clients") ?? 1000);
  const base = Number(flag("base") ?? 500);
  const rounds = Number(flag("rounds") ?? 1);
  if (!(clients >= 1 && clients <= 10_000 && base >= 1 && rounds >= 1 && rounds <= 10)) {
    console.error("Expected 1 ≤ --clients ≤ 10000, --base ≥ 1, 1 ≤ --rounds ≤ 10");
    return 2;
  }
  let servers = SERVERS.filter((s) => names === undefined || names.includes(s.name));
  const bun = await bunBinary().catch(() => undefined);
  if (!bun && servers.some((s) => s.runtime === "bun")) {
    console.error("bun is not available: the Bun servers are skipped");
    servers = servers.filter((s) => s.runtime !== "bun");
  }
  const taskset = await hasTaskset();
  const machine = [
    `${navigator.hardwareConcurrency} cores, ${Deno.build.os}`,
    `deno ${Deno.version.deno}${bun ? `, bun ${await output(bun, ["--version"])}` : ""}`,
    taskset ? "server pinned to core 0, clients to core 1 (taskset)" : "no taskset: not pinned",
    `C=${clients}, base ${base} ms, cap ${CAP} ms`,
    `commit ${await output("git", ["rev-parse", "--short", "HEAD"])}`,
    `load average at start ${(await output("cat", ["/proc/loadavg"])).split(" ").slice(0, 3)}`,
  ];
  console.error(`herd harness: ${machine.join("; ")}`);
  const runs: Run[] = [];
  let failed = false;
  for (let round = 1; round <= rounds; round++) {
    for (const def of round % 2 === 1 ? servers : servers.toReversed()) {
      const t0 = performance.now();
      try {
        const run = await runOnce(def, { taskset, bun, clients, base });
        runs.push(run);
        console.error(
          `[${def.name} ${round}/${rounds} · ${((performance.now() - t0) / 1000).toFixed(1)}s] ` +
            `capacity ${rate(run.capacity)}, herd peak ${rate(run.herdPeak)}, ` +
            `p50 ${ms(quantile(run.times, 0.5))}`,
        );
      } catch (error) {
        failed = true;
        console.error(`[${def.name} ${round}/${rounds}] FAIL: ${error}`);
      }
    }
  }
  console.log([`Machine: ${machine.join("; ")}.`, "", report(runs)].join("\n"));
  return failed ? 1 : 0;
}

if (import.meta.main) await runMain(main);
