/**
 * The library's own CPU cost, this checkout against another, in process:
 * `deno task bench:cost --against=<dir>`.
 *
 * End-to-end figures (`bench/load.ts`) are dominated by the kernel: a
 * delivery costs the server ~7–9 µs of which the library's JavaScript is
 * ~0.01–0.03 µs (an echo: ~1 µs of ~10), and whole runs move by 5–20%
 * with the machine's state, so
 * they cannot tell a change in the library's own cost of a few percent.
 * This harness measures just that cost: each run is a fresh process
 * (`bench/cost_child.ts`) that loads one checkout's `mod.ts`, opens sessions
 * on sockets that discard what they are sent, drives a workload, and
 * reports the median over its rounds (after warm-up rounds that JIT
 * tiers and the first collections make slow) of the process's CPU time per
 * delivery (per message for `echo`). The two checkouts run in turns
 * (A B, B A, …), each workload on Deno and on Bun, and the report gives
 * both medians and their ratio with the 95% confidence interval of the
 * ratio from the runs paired by turn.
 *
 * The workloads: `fanout` (200 publishes to 5,000 sessions in one tick),
 * `relay` (50 inbound messages from one session, each published to a room
 * of 1,000 except the sender), `echo` (2,000 inbound messages, each
 * answered); on Deno with plain sockets, on Bun with sockets that cork,
 * and `fanout` with batch clients on both.
 *
 * ```sh
 * deno task bench:cost --against=../switchboard-before            # 10 runs each
 * deno task bench:cost --against=../switchboard-before --runs=20 --workloads=echo
 * ```
 *
 * @module
 */
import { bunBinary, flag, hasTaskset, output, pinned, runMain, table } from "./_process.ts";
import { formatInterval, median, ratioInterval } from "./_stats.ts";
import type { CostSpec } from "./cost_child.ts";

type Runtime = "deno" | "bun";

/** One cell: a workload on one runtime. */
interface Case {
  readonly runtime: Runtime;
  readonly spec: Omit<CostSpec, "root">;
}

// A round is ~1M deliveries (fan-out), ~50k (relay), 2,000 messages (echo).
const FANOUT = {
  workload: "fanout",
  members: 5000,
  perRound: 200,
  rounds: 40,
  warmup: 20,
} as const;
const RELAY = { workload: "relay", members: 1000, perRound: 50, rounds: 200, warmup: 100 } as const;
const ECHO = { workload: "echo", members: 0, perRound: 2000, rounds: 200, warmup: 100 } as const;

const CASES: readonly Case[] = [
  { runtime: "deno", spec: { ...FANOUT, socket: "direct" } },
  { runtime: "deno", spec: { ...FANOUT, socket: "batch" } },
  { runtime: "deno", spec: { ...RELAY, socket: "direct" } },
  { runtime: "deno", spec: { ...ECHO, socket: "direct" } },
  { runtime: "bun", spec: { ...FANOUT, socket: "cork" } },
  { runtime: "bun", spec: { ...FANOUT, socket: "batch" } },
  { runtime: "bun", spec: { ...RELAY, socket: "cork" } },
  { runtime: "bun", spec: { ...ECHO, socket: "cork" } },
];

function label(c: Case): string {
  return `${c.spec.workload} (${c.spec.socket}) on ${c.runtime === "deno" ? "Deno" : "Bun"}`;
}

/** One child run: ns per operation. */
async function run(command: string[], spec: CostSpec, name: string): Promise<number> {
  const argv = [...command, JSON.stringify(spec)];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  });
  const { success, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout).trim();
  if (!success) {
    throw new Error(`${name} on ${spec.root}: ${new TextDecoder().decode(stderr)}`);
  }
  return (JSON.parse(text.split("\n").at(-1)!) as { nsPerOp: number }).nsPerOp;
}

async function commitOf(root: string): Promise<string> {
  return await output("git", ["-C", root, "rev-parse", "--short", "HEAD"]) || "unknown";
}

async function main(): Promise<number> {
  const againstDir = flag("against");
  const runs = Number(flag("runs") ?? 10);
  const only = flag("workloads")?.split(",");
  for (const arg of Deno.args) {
    if (!/^--(against=.+|runs=\d+|workloads=.+)$/.test(arg)) {
      console.error(`Unknown argument "${arg}"`);
      return 2;
    }
  }
  if (againstDir === undefined || !(runs >= 2)) {
    console.error("Usage: bench/cost.ts --against=<checkout> [--runs=N ≥ 2] [--workloads=a,b]");
    return 2;
  }
  const here = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
  const other = await Deno.realPath(againstDir);
  const roots = [here, other];
  const commits = [await commitOf(here), await commitOf(other)];
  const taskset = await hasTaskset();
  const bun = await bunBinary().catch(() => undefined);
  const cases = CASES.filter((c) =>
    (only === undefined || only.includes(c.spec.workload)) && (c.runtime === "deno" || bun)
  );
  if (bun === undefined) console.error("bun is not available: the Bun cases are skipped");
  const rows: string[][] = [];
  for (const c of cases) {
    const script = new URL("cost_child.ts", import.meta.url).pathname;
    const command = pinned(
      taskset,
      0,
      c.runtime === "deno" ? [Deno.execPath(), "run", "-A", script] : [bun!, script],
    );
    const figures: number[][] = [[], []];
    for (let i = 0; i < runs; i++) {
      for (const side of i % 2 === 0 ? [0, 1] : [1, 0]) {
        figures[side].push(await run(command, { ...c.spec, root: roots[side] }, label(c)));
      }
      console.error(
        `[${label(c)} ${i + 1}/${runs}] ${figures[0].at(-1)!.toFixed(1)} / ${
          figures[1].at(-1)!.toFixed(1)
        } ns`,
      );
    }
    const [a, b] = [median(figures[0])!, median(figures[1])!];
    const ci = ratioInterval(figures[0], figures[1]);
    rows.push([
      label(c),
      a.toFixed(1),
      b.toFixed(1),
      `${(a / b).toFixed(2)}×${ci === undefined ? "" : ` ${formatInterval(ci)}`}`,
    ]);
  }
  console.log(
    [
      `CPU time per delivery (per message for echo), ns, median of ${runs} runs (each the median of its measured rounds, after its warm-up rounds); ` +
      `this checkout (${commits[0]}) against ${other} (${commits[1]}), in turns; ` +
      `the ratio's 95% confidence interval from the runs paired by turn.`,
      "",
      table(["workload", commits[0], commits[1], "ratio [95% CI]"], rows),
    ].join("\n"),
  );
  return 0;
}

if (import.meta.main) await runMain(main);
