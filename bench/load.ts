/**
 * The end-to-end load harness: `deno task bench:load` (add `--quick` for a
 * smoke run of under a minute).
 *
 * For each scenario, each server under test (`bench/servers/*.ts`) is
 * started fresh, pinned to core 0 with `taskset` where it exists, and
 * driven by a separate load-client process (`bench/load_client.ts`) pinned
 * to core 1. The servers run interleaved within each scenario (the raw
 * baseline next to switchboard on the same runtime), so that both see the
 * same machine state; a scenario run more than once alternates the order
 * (A B C, C B A, …) and reports the median. At the end it prints the
 * absolute figures, the CPU each side used, and the ratios against the raw
 * baseline of the same runtime next to the targets of issue 4 (and of
 * issue 10 for the relay), as Markdown.
 *
 * The scenarios: fan-out (one control message makes the server publish P
 * messages in one JS tick), relay (a publisher in the room sends P separate
 * messages as fast as it can, and the server relays each to the room except
 * the sender: the chat workload), echo latency, memory per idle session
 * (RSS and JS heap, read without a forced GC at once after the connects,
 * then without one and after one once the RSS holds still: `GET /mem?gc=0`
 * and `GET /mem`), and connects/s. Fan-out and relay report the TCP segments the server sent
 * per delivery and, for `switchboard.batch` subscribers, the share of
 * messages that arrived in batch frames.
 *
 * `--rounds=N` runs each scenario N times as often (default 1).
 * `--report=<file>` prints the report of a run saved with `--json` again
 * and runs nothing.
 * `--against=<dir>` adds the switchboard servers of another checkout of this
 * repository (a `git worktree` at an older commit, say), named after its
 * commit (`switchboard_deno@abc1234`): each is started from that checkout's
 * `bench/servers/`, so it imports that checkout's `mod.ts`, with the same
 * flags, and runs next to this checkout's in every rotation. A further table
 * then gives the ratios between the two. A checkout whose servers predate
 * the relay behaviour sits out the relay scenarios.
 *
 * Every client run has a hard timeout, every child process is killed at the
 * end (also on failure or Ctrl-C), and everything is on 127.0.0.1. A lost
 * message, a closed socket or a timeout marks that cell FAIL and makes the
 * exit status 1.
 *
 * ```sh
 * deno task bench:load                 # full run, about 25 minutes (16 of them the relay)
 * deno task bench:load --quick         # smoke run, under a minute
 * deno task bench:load --servers=raw_deno,switchboard_deno --scenarios=echo,memory
 * deno task bench:load --scenarios=relay --rounds=2     # the relay workload only
 * deno task bench:load --json=.bench-out/load.json
 * deno task bench:load --against=../switchboard-before --rounds=3
 * deno task bench:load --report=.bench-out/load.json    # a saved run's report again
 * ```
 *
 * @module
 */
import { BATCH_PROTOCOL } from "../mod.ts";
import {
  bunBinary,
  flag,
  hasTaskset,
  output,
  pinned,
  runMain,
  type RunningServer,
  type ServerDef as BaseServerDef,
  serverScript,
  spawn,
  startServer,
  table,
  timeout,
} from "./_process.ts";
import type { ClientSpec } from "./load_client.ts";
import { formatInterval, median, ratioInterval } from "./_stats.ts";

/** Every kind of scenario, in the order a report lists them. */
const KINDS: readonly ClientSpec["scenario"][] = ["fanout", "relay", "echo", "memory", "connects"];

/** A server under test. */
interface ServerDef extends BaseServerDef {
  /** A subprotocol the fan-out subscribers offer and the server must accept. */
  readonly protocol?: string;
  /** Only these scenario kinds, if set. */
  readonly only?: readonly ClientSpec["scenario"][];
}

const SERVERS: readonly ServerDef[] = [
  { name: "raw_deno", runtime: "deno", script: "raw_deno" },
  { name: "switchboard_deno", runtime: "deno", script: "switchboard_deno" },
  {
    name: "switchboard_deno+batch",
    runtime: "deno",
    script: "switchboard_deno",
    protocol: BATCH_PROTOCOL,
    only: ["fanout", "relay"],
  },
  { name: "raw_bun", runtime: "bun", script: "raw_bun" },
  { name: "native_bun", runtime: "bun", script: "native_bun" },
  { name: "switchboard_bun", runtime: "bun", script: "switchboard_bun" },
  {
    name: "switchboard_bun+batch",
    runtime: "bun",
    script: "switchboard_bun",
    protocol: BATCH_PROTOCOL,
    only: ["fanout", "relay"],
  },
];

/** A scenario: what the client runs, and the longest it may take. */
interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly spec: Omit<ClientSpec, "port" | "serverPid" | "timeoutMs">;
  /** Hard timeout of one client run. */
  readonly timeoutMs: number;
  /**
   * Fresh server + client runs per server, in alternating order; the report
   * shows the median. `--rounds=N` multiplies it.
   */
  readonly repeat: number;
}

function scenarios(quick: boolean): Scenario[] {
  const q = <T>(full: T, small: T): T => quick ? small : full;
  const fanout = (clients: number, count: number): Scenario => ({
    id: `fanout-${clients}x${count}`,
    title: `fan-out deliveries/s (C=${clients}, P=${count} × 64 B, median of ≥ 2 bursts)`,
    spec: {
      scenario: "fanout",
      clients,
      count,
      size: 64,
      rounds: 2,
      minSeconds: q(2, 0.3),
      warmup: Math.ceil(count / 5),
      warmupSeconds: q(1, 0),
    },
    timeoutMs: q(60_000, 20_000),
    repeat: 1,
  });
  const relay = (clients: number, count: number, warmup: number, timeoutMs: number) => ({
    id: `relay-${clients}x${count}`,
    title: `relay deliveries/s (C=${clients}, P=${count} × 64 B sent one by one, ` +
      "each to the room except the sender; median of ≥ 2 rounds)",
    spec: {
      scenario: "relay",
      clients,
      count,
      size: 64,
      rounds: 2,
      minSeconds: q(2, 0.3),
      warmup,
      warmupSeconds: q(1, 0),
    },
    timeoutMs,
    repeat: 1,
  } satisfies Scenario);
  return [
    q(fanout(1000, 1000), fanout(200, 200)),
    q(fanout(5000, 200), fanout(1000, 50)),
    // A slow relay writes once per delivery, about 0.1M deliveries/s: 5M a round at C=5000.
    q(relay(1000, 1000, 200, 120_000), relay(200, 200, 40, 20_000)),
    q(relay(5000, 1000, 100, 300_000), relay(1000, 50, 10, 20_000)),
    {
      id: "echo",
      title: "echo round trip",
      spec: {
        scenario: "echo",
        size: 64,
        sequential: q(5000, 1000),
        concurrent: q(100, 20),
        perClient: q(100, 50),
      },
      timeoutMs: q(30_000, 15_000),
      repeat: q(5, 1),
    },
    {
      id: "memory",
      title: `memory per idle session (${q(10_000, 2_000)} sessions in one room)`,
      spec: {
        scenario: "memory",
        clients: q(10_000, 2_000),
        concurrency: 200,
        idleSeconds: q(30, 2),
      },
      timeoutMs: q(80_000, 20_000),
      repeat: q(3, 1),
    },
    {
      id: "connects",
      title: `connects/s (${q(5000, 1000)} connections, 200 at a time, token checked)`,
      spec: { scenario: "connects", clients: q(5000, 1000), concurrency: 200 },
      timeoutMs: q(30_000, 15_000),
      repeat: q(3, 1),
    },
  ];
}

// ---------------------------------------------------------------- processes

let taskset = false;

const here = new URL(".", import.meta.url);

type Result = { ok: true; [key: string]: unknown } | { ok: false; error: string };

async function runClient(spec: ClientSpec, timeoutMs: number): Promise<Result> {
  const script = new URL("load_client.ts", here).pathname;
  const child = spawn(
    pinned(taskset, 1, [Deno.execPath(), "run", "-A", script, JSON.stringify(spec)]),
  );
  const status = await timeout(child.process.status, timeoutMs + 10_000, null);
  if (status === null) {
    child.kill();
    await child.wait(0);
    return { ok: false, error: `the load client did not finish in ${timeoutMs + 10_000} ms` };
  }
  await timeout(child.drained, 1000, null);
  const last = child.lines.findLast((line) => line.startsWith("{"));
  try {
    const result = JSON.parse(last ?? "") as Result;
    if (!status.success && result.ok) return { ok: false, error: `exit code ${status.code}` };
    return result;
  } catch {
    return { ok: false, error: `the load client exited with ${status.code} and no result` };
  }
}

// ---------------------------------------------------------------- report

/** Every run of a scenario on a server (one per repeat). */
type Results = Record<string, Record<string, Result[]>>;

function field(result: Result, path: string): number | undefined {
  if (!result.ok) return undefined;
  let value: unknown = result;
  for (const key of path.split(".")) value = (value as Record<string, unknown>)?.[key];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The median over the repeats, or `undefined` if any repeat failed or lacks the field. */
function num(runs: Result[] | undefined, path: string): number | undefined {
  if (runs === undefined || runs.length === 0 || runs.some((r) => !r.ok)) return undefined;
  const values = runs.map((r) => field(r, path)).filter((v) => v !== undefined) as number[];
  return values.length === runs.length ? median(values) : undefined;
}

function fmt(value: number | undefined, unit: string): string {
  if (value === undefined) return "—";
  switch (unit) {
    case "/s":
      return value >= 1e6
        ? `${(value / 1e6).toFixed(2)}M`
        : value >= 1e3
        ? `${(value / 1e3).toFixed(1)}k`
        : `${Math.round(value)}`;
    case "KB":
      return `${(value / 1024).toFixed(2)} KB`;
    case "µs":
      return `${value.toFixed(0)} µs`;
    case "ms":
      return `${value.toFixed(1)} ms`;
    case "x":
      return value.toFixed(2);
    case "%":
      // A small share (a few messages batched) shows as 0.3%, not 0%.
      return `${(value * 100).toFixed(value > 0 && value < 0.1 ? 1 : 0)}%`;
    default:
      return String(value);
  }
}

/**
 * The memory scenario's readings, as `load_client.ts` names them: RSS
 * path, JS heap path (none where no request was made), and when they were
 * read ("settled": once the RSS held still, the allocator having given
 * back what the GC freed; "left untouched": from `/proc`, with no request
 * to the server for `idleSeconds`, 2 s with `--quick`).
 */
const _MEMORY_READINGS = [
  ["bytesPerSession", "heapBytesPerSession", "after a forced GC, settled"],
  ["unforcedBytesPerSession", undefined, "without a forced GC, left untouched"],
  [
    "atOnceBytesPerSession",
    "atOnceHeapBytesPerSession",
    "at once after the connects, no forced GC",
  ],
] as const;

interface Metric {
  readonly scenario: string;
  readonly path: string;
  readonly label: string;
  readonly unit: string;
  /**
   * What the ratio is checked against: see {@linkcode target}. A `share`
   * is a batch server's own figure: the ratio tables show it, not a ratio.
   */
  readonly kind: "fanout" | "relay" | "share" | "echo" | "memory" | "connects";
}

function metrics(list: Scenario[]): Metric[] {
  const out: Metric[] = [];
  for (const s of list) {
    const runs = s.repeat > 1 ? `, median of ${s.repeat} runs` : "";
    if (s.spec.scenario === "fanout") {
      out.push({
        scenario: s.id,
        path: "deliveriesPerSec",
        label: `${s.title}${runs}`,
        unit: "/s",
        kind: "fanout",
      });
    } else if (s.spec.scenario === "relay") {
      out.push({
        scenario: s.id,
        path: "deliveriesPerSec",
        label: `${s.title}${runs}`,
        unit: "/s",
        kind: "relay",
      }, {
        scenario: s.id,
        path: "batchShare",
        label: `${s.id}: share of messages in batch frames (\`switchboard.batch\` subscribers)`,
        unit: "%",
        kind: "share",
      });
    } else if (s.spec.scenario === "echo") {
      for (const mode of ["sequential", "concurrent"]) {
        const who = mode === "sequential" ? "1 client" : `${s.spec.concurrent} clients`;
        for (const p of ["p50", "p99"]) {
          out.push({
            scenario: s.id,
            path: `${mode}.${p}Us`,
            label: `echo ${mode} ${p} (${who}${runs})`,
            unit: "µs",
            kind: "echo",
          });
        }
      }
    } else if (s.spec.scenario === "memory") {
      for (const [path, , when] of _MEMORY_READINGS) {
        out.push({
          scenario: s.id,
          path,
          label: `${s.title}, RSS ${when}${runs}`,
          unit: "KB",
          kind: "memory",
        });
      }
    } else {
      out.push({
        scenario: s.id,
        path: "connectsPerSec",
        label: `${s.title}${runs}`,
        unit: "/s",
        kind: "connects",
      });
    }
  }
  return out;
}

/** Figures that explain the main ones. */
function details(list: Scenario[]): Omit<Metric, "kind">[] {
  const out: Omit<Metric, "kind">[] = [];
  for (const s of list) {
    if (s.spec.scenario === "fanout" || s.spec.scenario === "relay") {
      out.push(
        {
          scenario: s.id,
          path: "serverSegmentsPerDelivery",
          label: `${s.id}: TCP segments the server sent per delivery (ss, its sockets)`,
          unit: "x",
        },
        {
          scenario: s.id,
          path: "segmentsPerDelivery",
          label: `${s.id}: TCP segments per delivery (host-wide, both directions)`,
          unit: "x",
        },
        {
          scenario: s.id,
          path: "framesPerDelivery",
          label: `${s.id}: WebSocket frames per delivery`,
          unit: "x",
        },
        {
          scenario: s.id,
          path: "readsPerDelivery",
          label: `${s.id}: client reads per delivery`,
          unit: "x",
        },
        {
          scenario: s.id,
          path: "serverSysShare",
          label: `${s.id}: server CPU spent in the kernel`,
          unit: "%",
        },
      );
    } else if (s.spec.scenario === "echo") {
      out.push(
        {
          scenario: s.id,
          path: "concurrent.roundTripsPerSec",
          label: `echo: concurrent round trips/s`,
          unit: "/s",
        },
        {
          scenario: s.id,
          path: "sequential.p50Us",
          label: "echo: sequential p50, lowest–highest run",
          unit: "range",
        },
        {
          scenario: s.id,
          path: "concurrent.p50Us",
          label: "echo: concurrent p50, lowest–highest run",
          unit: "range",
        },
      );
    } else if (s.spec.scenario === "memory") {
      for (const [, path, when] of _MEMORY_READINGS) {
        if (path === undefined) continue;
        out.push({
          scenario: s.id,
          path,
          label: `memory: JS heap per idle session, ${when}`,
          unit: "KB",
        });
      }
    } else {
      out.push(
        { scenario: s.id, path: "handshakeP50Ms", label: "connects: handshake p50", unit: "ms" },
        { scenario: s.id, path: "handshakeP99Ms", label: "connects: handshake p99", unit: "ms" },
      );
    }
  }
  return out;
}

/** A target of issue 4 (of issue 10 for the relay), checked on one metric. */
interface Target {
  readonly text: string;
  check(sb: number, base: number): boolean;
}

function target(
  metric: Metric,
  runtime: "deno" | "bun",
  baseline: string,
  batch: boolean,
): Target | undefined {
  switch (metric.kind) {
    case "fanout":
      if (batch && runtime === "deno" && baseline === "raw_deno") {
        return { text: "≥ 5×", check: (sb, base) => sb >= 5 * base };
      }
      if (batch) return undefined;
      if (runtime === "deno" && baseline === "raw_deno") {
        return { text: "≥ 1.0×", check: (sb, base) => sb >= base };
      }
      if (runtime === "bun" && baseline === "native_bun") {
        return { text: "≥ 0.8×", check: (sb, base) => sb >= 0.8 * base };
      }
      return undefined;
    case "relay":
      if (runtime === "deno" && baseline === "raw_deno") {
        return batch
          ? { text: "≥ 15×", check: (sb, base) => sb >= 15 * base }
          : { text: "≥ 1.0×", check: (sb, base) => sb >= base };
      }
      if (runtime === "bun" && baseline === "native_bun" && !batch) {
        return { text: "≥ 1.2×", check: (sb, base) => sb >= 1.2 * base };
      }
      return undefined;
    case "share":
      return batch && runtime === "deno" ? { text: "≥ 90%", check: (sb) => sb >= 0.9 } : undefined;
    case "memory":
      return baseline === "native_bun"
        ? undefined
        : { text: "≤ raw + 1 KB", check: (sb, base) => sb <= base + 1024 };
    case "connects":
      return baseline === "native_bun"
        ? undefined
        : { text: "≥ 0.9×", check: (sb, base) => sb >= 0.9 * base };
    case "echo":
      return baseline === "native_bun"
        ? undefined
        : { text: "≤ 1.1×", check: (sb, base) => sb <= 1.1 * base };
  }
}

const PAIRS: readonly [string, string, "deno" | "bun"][] = [
  ["switchboard_deno", "raw_deno", "deno"],
  ["switchboard_deno+batch", "raw_deno", "deno"],
  ["switchboard_bun", "raw_bun", "bun"],
  ["switchboard_bun", "native_bun", "bun"],
  ["switchboard_bun+batch", "native_bun", "bun"],
];

function cell(results: Results, scenario: string, server: string, path: string, unit: string) {
  const runs = results[scenario]?.[server];
  if (runs?.some((r) => !r.ok)) return "**FAIL**";
  if (unit === "range") {
    const values = (runs ?? []).map((r) => field(r, path)).filter((v) => v !== undefined);
    if (values.length === 0) return "—";
    return `${Math.min(...values as number[]).toFixed(0)}–${
      Math.max(...values as number[]).toFixed(0)
    } µs`;
  }
  return fmt(num(runs, path), unit);
}

/**
 * A table of `a / b` for each metric (a row) and pair of servers (a column).
 *
 * @param shown The cell of two medians that both exist (for a `share`, of
 * `a`'s at least); else it is "—".
 */
function ratioTable<P extends readonly [string, string, ...unknown[]]>(
  ms: Metric[],
  pairs: readonly P[],
  results: Results,
  shown: (m: Metric, a: number, b: number | undefined, pair: P) => string,
): string {
  return table(
    ["metric", ...pairs.map(([a, b]) => `${a} / ${b}`)],
    ms.map((m) => [
      m.label,
      ...pairs.map((pair) => {
        const aRuns = results[m.scenario]?.[pair[0]];
        const bRuns = results[m.scenario]?.[pair[1]];
        const a = num(aRuns, m.path);
        const b = num(bRuns, m.path);
        if (a === undefined || (b === undefined && m.kind !== "share")) return "—";
        const text = shown(m, a, b, pair);
        const ci = m.kind === "share" || text === "—" ? undefined : ratioInterval(
          aRuns!.map((r) => field(r, m.path)),
          bRuns!.map((r) => field(r, m.path)),
        );
        return ci === undefined ? text : `${text} ${formatInterval(ci)}`;
      }),
    ]),
  );
}

/**
 * A ratio, flagged when it is more than 5% to the worse (throughput down,
 * time or memory up); a `share`, as both figures.
 */
function change(m: Metric, a: number, b: number | undefined): string {
  if (b === undefined) return "—";
  if (m.kind === "share") return `${fmt(a, "%")} vs ${fmt(b, "%")}`;
  const worse = m.unit === "/s" ? a < 0.95 * b : a > 1.05 * b;
  return `${(a / b).toFixed(2)}×${worse ? " (**> 5% worse**)" : ""}`;
}

function report(
  list: Scenario[],
  servers: readonly ServerDef[],
  results: Results,
  against: readonly (readonly [string, string])[],
): string {
  const names = servers.map((s) => s.name);
  const ms = metrics(list);
  const absolute = table(
    ["metric", ...names],
    ms.map((m) => [m.label, ...names.map((n) => cell(results, m.scenario, n, m.path, m.unit))]),
  );
  const explained = table(
    ["detail (median of the runs, or the range)", ...names],
    details(list).map((m) => [
      m.label,
      ...names.map((n) => cell(results, m.scenario, n, m.path, m.unit)),
    ]),
  );
  const cpu = table(
    ["measured window (median)", ...names],
    list.filter((s) => s.spec.scenario !== "memory").map((s) => [
      s.id,
      ...names.map((n) => {
        const runs = results[s.id]?.[n];
        const client = num(runs, "clientCpu"), server = num(runs, "serverCpu");
        return client === undefined ? "—" : `${fmt(client, "x")} / ${fmt(server, "x")}`;
      }),
    ]),
  );
  const pairs = PAIRS.filter(([a, b]) => names.includes(a) && names.includes(b));
  const ratios = ratioTable(ms, pairs, results, (m, a, b, [sb, base, runtime]) => {
    const batch = sb.endsWith("+batch");
    if (m.kind === "share" && !batch) return "—";
    const t = target(m, runtime, base, batch);
    const shown = m.kind === "share"
      ? fmt(a, "%")
      : b === undefined
      ? "—"
      : m.unit === "KB"
      ? `${a >= b ? "+" : "−"}${(Math.abs(a - b) / 1024).toFixed(2)} KB, ${(a / b).toFixed(2)}×`
      : `${(a / b).toFixed(2)}×`;
    if (shown === "—") return shown;
    if (t === undefined) return shown;
    return `${shown} (target ${t.text}: ${t.check(a, b ?? NaN) ? "met" : "**missed**"})`;
  });
  const failures = Object.entries(results).flatMap(([s, byServer]) =>
    Object.entries(byServer).flatMap(([n, runs]) =>
      runs.filter((r) => !r.ok).map((r) => `- ${s} on ${n}: ${(r as { error: string }).error}`)
    )
  );
  return [
    "### Absolute figures",
    "",
    absolute,
    "",
    "### Ratios against the raw baseline of the same runtime (memory: difference, then ratio; batch share: the batch server's own)",
    "",
    "Each ratio is of the medians; in brackets, from 3 runs up, the 95% confidence interval of the ratio from the runs paired by rotation (see `ratioInterval` in `_stats.ts`).",
    "",
    ratios,
    ...(against.length > 0
      ? [
        "",
        "### This checkout against the other (`--against`), same run (memory: ratio too; batch share: this vs other)",
        "",
        ratioTable(ms, against, results, change),
      ]
      : []),
    "",
    "### CPU used in the measured window (cores: load client / server)",
    "",
    cpu,
    "",
    "### Details",
    "",
    explained,
    ...(failures.length > 0 ? ["", "### FAILURES", "", ...failures] : []),
  ].join("\n");
}

// ---------------------------------------------------------------- main

/**
 * A checkout's short commit, and whether `src/` or `mod.ts` has uncommitted
 * changes, in words.
 */
async function revision(root: string): Promise<{ commit: string; text: string }> {
  const commit = await output("git", ["-C", root, "rev-parse", "--short", "HEAD"]);
  const dirty = await output("git", ["-C", root, "status", "--porcelain", "--", "src", "mod.ts"]);
  return {
    commit,
    text: `commit ${commit || "unknown"}${dirty ? " with uncommitted changes in src/" : ""}`,
  };
}

/**
 * Each switchboard server, followed by the same server from the checkout at
 * `root` (named `<name>@<commit>`).
 *
 * @param relay Whether that checkout's servers relay; if not, they sit out the relay.
 * @returns The servers, and the pairs (this checkout's, the other's) to compare.
 */
function withAgainst(
  servers: readonly ServerDef[],
  root: string,
  commit: string,
  relay: boolean,
): { servers: ServerDef[]; pairs: [string, string][] } {
  const pairs: [string, string][] = [];
  const all = servers.flatMap((s) => {
    if (!s.name.startsWith("switchboard_")) return [s];
    const only = relay ? s.only : (s.only ?? KINDS).filter((kind) => kind !== "relay");
    const other = { ...s, name: `${s.name}@${commit || "against"}`, root, only };
    pairs.push([s.name, other.name]);
    return [s, other];
  });
  return { servers: all, pairs };
}

/**
 * The report of a run saved with `--json`, printed again (with this
 * checkout's report code): the servers and scenarios are the file's.
 */
async function reportSaved(path: string): Promise<number> {
  const saved = JSON.parse(await Deno.readTextFile(path)) as {
    machine: string[];
    quick: boolean;
    results: Results;
  };
  const ids = Object.keys(saved.results);
  const list = scenarios(saved.quick).filter((s) => ids.includes(s.id)).map((s) => ({
    ...s,
    repeat: Math.max(...Object.values(saved.results[s.id]).map((runs) => runs.length)),
  }));
  const names = new Set(ids.flatMap((id) => Object.keys(saved.results[id])));
  const servers: ServerDef[] = [];
  const against: [string, string][] = [];
  for (const def of SERVERS) {
    if (!names.has(def.name)) continue;
    servers.push(def);
    const other = [...names].find((n) => n.startsWith(`${def.name}@`));
    if (other === undefined) continue;
    servers.push({ ...def, name: other });
    against.push([def.name, other]);
  }
  console.log(
    [`Machine: ${saved.machine.join("; ")}.`, "", report(list, servers, saved.results, against)]
      .join("\n"),
  );
  return 0;
}

async function main(): Promise<number> {
  const saved = flag("report");
  if (saved !== undefined) return await reportSaved(saved);
  const quick = Deno.args.includes("--quick");
  const onlyServers = flag("servers")?.split(",");
  const onlyScenarios = flag("scenarios")?.split(",");
  const jsonPath = flag("json");
  const rounds = Number(flag("rounds") ?? 1);
  const againstDir = flag("against");
  for (const arg of Deno.args) {
    if (!/^--(quick|servers=.*|scenarios=.*|json=.*|rounds=\d+|against=.+)$/.test(arg)) {
      console.error(`Unknown argument "${arg}"`);
      return 2;
    }
  }
  if (!(rounds >= 1)) {
    console.error(`Invalid --rounds "${flag("rounds")}": expected a positive integer`);
    return 2;
  }
  taskset = await hasTaskset();
  const bunPath = await bunBinary().catch(() => undefined);
  const bun = bunPath ? await output(bunPath, ["--version"]) : "";
  let servers = SERVERS.filter((s) => onlyServers === undefined || onlyServers.includes(s.name));
  if (!bun && servers.some((s) => s.runtime === "bun")) {
    console.error("bun is not available: the Bun servers are skipped");
    servers = servers.filter((s) => s.runtime !== "bun");
  }
  const list = scenarios(quick).filter((s) =>
    onlyScenarios === undefined || onlyScenarios.some((o) => s.id.startsWith(o))
  ).map((s) => ({ ...s, repeat: s.repeat * rounds }));
  const cpuModel = (await output("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo"]))
    .replace(/^model name\s*:\s*/, "");
  const root = new URL("..", import.meta.url).pathname;
  let against: [string, string][] = [];
  let againstText: string[] = [];
  if (againstDir !== undefined) {
    const otherRoot = await Deno.realPath(againstDir).catch(() => againstDir);
    const other = await revision(otherRoot);
    const relays = await Deno.readTextFile(`${otherRoot}/bench/servers/_switchboard.ts`)
      .then((text) => text.includes('"relay"'), () => false);
    if (!relays && list.some((s) => s.spec.scenario === "relay")) {
      console.error(`${otherRoot} has no relay behaviour: its servers sit out the relay`);
    }
    ({ servers, pairs: against } = withAgainst(servers, otherRoot, other.commit, relays));
    for (const def of servers.filter((s) => s.root !== undefined)) {
      if (!await Deno.stat(serverScript(def)).then(() => true, () => false)) {
        console.error(`Cannot run "${def.name}": ${serverScript(def)} does not exist`);
        return 2;
      }
    }
    againstText = [`against ${otherRoot} at ${other.text}`];
  }
  const machine = [
    `${navigator.hardwareConcurrency} cores (${cpuModel || "unknown CPU"}), ${Deno.build.os}`,
    `deno ${Deno.version.deno} (v8 ${Deno.version.v8})${bun ? `, bun ${bun}` : ""}`,
    taskset ? "server pinned to core 0, load client to core 1 (taskset)" : "no taskset: not pinned",
    `mode: ${quick ? "--quick" : "full"}${rounds > 1 ? `, --rounds=${rounds}` : ""}`,
    (await revision(root)).text,
    ...againstText,
    `load average at start ${
      (await output("cat", ["/proc/loadavg"])).split(" ").slice(0, 3).join(" ")
    }`,
  ];
  console.error(`load harness: ${machine.join("; ")}`);

  const results: Results = {};
  const started = performance.now();
  for (const scenario of list) {
    results[scenario.id] = Object.fromEntries(servers.map((s) => [s.name, []]));
    const active = servers.filter((s) =>
      s.only === undefined || s.only.includes(scenario.spec.scenario)
    );
    for (let run = 1; run <= scenario.repeat; run++) {
      for (const def of run % 2 === 1 ? active : active.toReversed()) {
        const t0 = performance.now();
        let result: Result;
        let server: RunningServer | undefined;
        try {
          server = await startServer(def, { taskset, bun: bunPath });
          result = await runClient({
            ...scenario.spec,
            protocol: def.protocol,
            port: server.port,
            serverPid: server.pid,
            timeoutMs: scenario.timeoutMs,
          } as ClientSpec, scenario.timeoutMs);
        } catch (error) {
          result = { ok: false, error: String(error) };
        } finally {
          await server?.stop();
        }
        results[scenario.id][def.name].push(result);
        const seconds = ((performance.now() - t0) / 1000).toFixed(1);
        const summary = result.ok ? JSON.stringify(result).slice(0, 240) : `FAIL: ${result.error}`;
        console.error(
          `[${scenario.id} ${run}/${scenario.repeat} · ${def.name} · ${seconds}s] ${summary}`,
        );
      }
    }
  }
  const total = ((performance.now() - started) / 1000).toFixed(0);
  const text = report(list, servers, results, against);
  console.log(
    [`Machine: ${machine.join("; ")}.`, `Total time: ${total} s.`, "", text].join("\n"),
  );
  if (jsonPath) {
    await Deno.writeTextFile(jsonPath, JSON.stringify({ machine, quick, results }, null, 2));
  }
  const failed = Object.values(results).some((byServer) =>
    Object.values(byServer).some((runs) => runs.some((r) => !r.ok))
  );
  return failed ? 1 : 0;
}

if (import.meta.main) await runMain(main);
