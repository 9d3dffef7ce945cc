/**
 * The fairness harness (issue 9, item 3): `deno task bench:fairness`.
 *
 * How long does one client wait for its echo while another sends 1 MiB
 * envelopes at about 100 a second, well within the message rate? For each
 * runtime and condition it starts a fresh switchboard server
 * (`servers/switchboard_<runtime>.ts`, pinned to core 0), then an attacker
 * and a victim, each a process of its own (`fairness_client.ts`, both
 * pinned to core 1: the victim's event loop never runs the attacker's
 * code, and the core they share is mostly idle). The victim connects
 * first, then the attacker; after a second of attack the victim makes
 * sequential echo round trips, one every 10 ms for `--seconds`, and times
 * one fresh handshake beside them (a client arriving during the attack).
 * The attacker reconnects whenever the server closes it, and stops after
 * the victim's window.
 *
 * The conditions:
 *
 * - `none`: no attacker, default limits;
 * - `budget`: the attacker, default limits (byte budget 1 MiB/s, burst
 *   `maxMessageBytes`, 50 rejections in a row close with 1008);
 * - `nobudget`: the attacker, the default message rate with no byte budget
 *   (`rateLimit: { rate: 100, burst: 200, bytes: 1e12, burstBytes: 1 MiB }`),
 *   the behaviour before the byte budget.
 *
 * each with two attacks, whose envelopes are the same size but not the same
 * cost to decode: `string` (`{"topic":"x","data":"xx…"}`, one long string)
 * and `objects` (`{"topic":"x","data":[{"a":0},…]}`, some 130,000 small
 * objects); and `fresh`: the `objects` attack on a fresh connection for
 * each envelope, against the default limits (each new session has a full
 * byte bucket).
 *
 * Each round runs every runtime and condition once, on fresh servers, the
 * order reversed every other round (A B C, C B A, …). The report pools the
 * victim's round trips of all rounds (p50, p99, max), gives the p99 of each
 * round and the fresh handshake's time in each round (`> 10 s`: none
 * within 10 s), and the medians over the rounds of the attacker's rates (frames
 * written whole; accepted and rejected as the server counted them in
 * `GET /stats`), of its reconnects, and of the server's CPU over the
 * victim's window.
 *
 * Every client run has a hard timeout, every child process is killed at the
 * end (also on failure or Ctrl-C), and everything is on 127.0.0.1. A victim
 * whose connection is closed, or a run that fails, marks its cell FAIL and
 * makes the exit status 1.
 *
 * ```sh
 * deno task bench:fairness                     # 3 rounds × 5 s: about 6 minutes
 * deno task bench:fairness --quick             # 1 round × 2 s
 * deno task bench:fairness --rounds=5 --seconds=10 --runtimes=deno
 * deno task bench:fairness --conditions=none,budget-objects,nobudget-objects
 * ```
 *
 * @module
 */
import type { ServerStats } from "../mod.ts";
import type {
  AttackerResult,
  FailedResult,
  FairnessSpec,
  VictimResult,
} from "./fairness_client.ts";
import {
  bunBinary,
  flag,
  hasTaskset,
  output,
  pinned,
  runMain,
  type RunningServer,
  spawn,
  startServer,
  table,
  timeout,
} from "./_process.ts";
import type { BenchLimits } from "./servers/_switchboard.ts";

/** A condition of a run: the server's limits, and the attack if any. */
interface Condition {
  readonly id: string;
  readonly label: string;
  readonly limits: BenchLimits;
  readonly attack?: Pick<FairnessSpec, "payload" | "perConnection">;
}

const CONDITIONS: readonly Condition[] = [
  { id: "none", label: "no attacker", limits: "default" },
  {
    id: "budget-string",
    label: "`string` attack, byte budget (defaults)",
    limits: "default",
    attack: { payload: "string" },
  },
  {
    id: "nobudget-string",
    label: "`string` attack, no byte budget",
    limits: "messages",
    attack: { payload: "string" },
  },
  {
    id: "budget-objects",
    label: "`objects` attack, byte budget (defaults)",
    limits: "default",
    attack: { payload: "objects" },
  },
  {
    id: "nobudget-objects",
    label: "`objects` attack, no byte budget",
    limits: "messages",
    attack: { payload: "objects" },
  },
  {
    id: "fresh-objects",
    label: "`objects` attack, a fresh connection per envelope, byte budget (defaults)",
    limits: "default",
    attack: { payload: "objects", perConnection: 1 },
  },
];

const RUNTIMES = ["deno", "bun"] as const;
type Runtime = typeof RUNTIMES[number];

/** How long the attack runs before the victim's window, in milliseconds. */
const WARMUP_MS = 1000;
/** The longest wait for one echo, in milliseconds. */
const REPLY_TIMEOUT_MS = 10_000;

/** What one run measured. */
interface Run {
  readonly ok: boolean;
  readonly error?: string;
  readonly victim?: VictimResult;
  readonly attacker?: AttackerResult;
  /** The attacker's messages as the server counted them, over the attacker's life. */
  readonly server?: { received: number; accepted: number; rejected: number };
}

let taskset = false;

const here = new URL(".", import.meta.url);
const clientScript = new URL("fairness_client.ts", here).pathname;

function clientCommand(spec: FairnessSpec): string[] {
  return pinned(taskset, 1, [Deno.execPath(), "run", "-A", clientScript, JSON.stringify(spec)]);
}

function lastJson<T>(lines: readonly string[]): T | undefined {
  const last = lines.findLast((line) => line.startsWith("{"));
  try {
    return last === undefined ? undefined : JSON.parse(last) as T;
  } catch {
    return undefined;
  }
}

/** `GET /stats`, or `undefined` if the server does not answer within `ms`. */
async function stats(port: number, ms: number): Promise<ServerStats | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/stats`, {
      signal: AbortSignal.timeout(ms),
    });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a client's last JSON line once it exited (it has `limitMs` to); kills it if late. */
async function finished<T>(
  child: ReturnType<typeof spawn>,
  who: string,
  limitMs: number,
): Promise<T | FailedResult> {
  const status = await timeout(child.process.status, limitMs, null);
  if (status === null) {
    child.kill();
    await child.wait(0);
    return { ok: false, error: `the ${who} did not finish in ${limitMs} ms` };
  }
  await timeout(child.drained, 1000, null);
  return lastJson<T | FailedResult>(child.lines.slice(1)) ??
    { ok: false, error: `the ${who} exited with ${status.code} and no result` };
}

/** Waits (15 s at most) for a client's `{"ready":true}`; throws if it did not come. */
async function ready(child: ReturnType<typeof spawn>, who: string): Promise<void> {
  const line = await timeout(child.first, 15_000, null);
  if (line !== '{"ready":true}') {
    throw new Error(`the ${who} did not connect (got ${JSON.stringify(line)})`);
  }
}

/**
 * One run: a fresh server, the victim connected, the attacker if any, a
 * second of attack, then the victim's window.
 */
async function runOnce(
  runtime: Runtime,
  condition: Condition,
  seconds: number,
  bun: string | undefined,
): Promise<Run> {
  let server: RunningServer | undefined;
  let victim: ReturnType<typeof spawn> | undefined;
  let attacker: ReturnType<typeof spawn> | undefined;
  try {
    server = await startServer(
      {
        name: `switchboard_${runtime}`,
        runtime,
        script: `switchboard_${runtime}`,
        args: [`--limits=${condition.limits}`],
      },
      { taskset, bun },
    );
    const before = await stats(server.port, 5000);
    victim = spawn(clientCommand({
      role: "victim",
      port: server.port,
      serverPid: server.pid,
      seconds,
      intervalMs: 10,
      replyTimeoutMs: REPLY_TIMEOUT_MS,
    }));
    await ready(victim, "victim");
    if (condition.attack !== undefined) {
      attacker = spawn(clientCommand({
        role: "attacker",
        port: server.port,
        perSecond: 100,
        size: 1 << 20,
        maxSeconds: seconds + 60,
        ...condition.attack,
      }));
      await ready(attacker, "attacker");
    }
    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    victim.kill("SIGUSR1");
    const result = await finished<VictimResult>(
      victim,
      "victim",
      seconds * 1000 + REPLY_TIMEOUT_MS + 20_000,
    );
    if (!result.ok) return { ok: false, error: result.error };
    if (attacker === undefined) return { ok: true, victim: result };
    attacker.kill("SIGTERM");
    const attack = await finished<AttackerResult>(attacker, "attacker", 5000);
    if (!attack.ok) return { ok: false, error: attack.error };
    const after = await stats(server.port, 15_000);
    if (before === undefined || after === undefined) {
      return { ok: true, victim: result, attacker: attack };
    }
    const received = after.messagesReceived - before.messagesReceived - result.sent;
    const rejected = after.messagesRejected - before.messagesRejected;
    const unusable = after.tooLargeCloses - before.tooLargeCloses +
      after.invalidMessages - before.invalidMessages;
    return {
      ok: true,
      victim: result,
      attacker: attack,
      server: { received, rejected, accepted: received - rejected - unusable },
    };
  } catch (error) {
    return { ok: false, error: String(error) };
  } finally {
    await attacker?.stop(3000);
    await victim?.stop(3000);
    await server?.stop();
  }
}

// ---------------------------------------------------------------- report

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return "—";
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms`;
}

function rate(value: number): string {
  return Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : "—";
}

/** The median over the runs of a per-second figure of the attacker. */
function perSecond(runs: readonly Run[], pick: (run: Run) => number | undefined): number {
  return median(runs.flatMap((run) => {
    const value = pick(run), seconds = run.attacker?.seconds;
    return value === undefined || !seconds ? [] : [value / seconds];
  }));
}

function row(runtime: Runtime, condition: Condition, runs: readonly Run[]): string[] {
  const failed = runs.filter((run) => !run.ok).length;
  const victims = runs.flatMap((run) => run.victim === undefined ? [] : [run.victim]);
  const rtts = victims.flatMap((v) => v.rtts).sort((a, b) => a - b);
  const lost = victims.reduce((sum, v) => sum + v.lost + v.errors, 0);
  const byRound = victims.map((v) => ms(percentile([...v.rtts].sort((a, b) => a - b), 0.99)));
  const attacked = condition.attack !== undefined;
  const attackerCell = (pick: (run: Run) => number | undefined) =>
    attacked ? rate(perSecond(runs, pick)) : "—";
  return [
    runtime,
    condition.label,
    `${rtts.length}${lost > 0 ? ` (${lost} lost)` : ""}${failed > 0 ? ` FAIL ×${failed}` : ""}`,
    ms(percentile(rtts, 0.5)),
    ms(percentile(rtts, 0.99)),
    ms(rtts.at(-1) ?? NaN),
    byRound.join(" · "),
    victims.map((v) => v.handshakeMs === null ? `> ${ms(REPLY_TIMEOUT_MS)}` : ms(v.handshakeMs))
      .join(" · "),
    attackerCell((run) => run.attacker?.sent),
    attackerCell((run) => run.server?.accepted),
    attackerCell((run) => run.server?.rejected),
    attackerCell((run) => run.attacker && run.attacker.connects - 1),
    (() => {
      const cpu = median(victims.flatMap((v) => v.serverCpu === null ? [] : [v.serverCpu]));
      return Number.isFinite(cpu) ? cpu.toFixed(2) : "—";
    })(),
  ];
}

function report(
  runtimes: readonly Runtime[],
  conditions: readonly Condition[],
  results: Map<string, Run[]>,
): string {
  const rows = runtimes.flatMap((runtime) =>
    conditions.map((condition) => row(runtime, condition, results.get(key(runtime, condition))!))
  );
  return table([
    "runtime",
    "condition",
    "victim echoes",
    "p50",
    "p99",
    "max",
    "p99 per round",
    "new handshake per round",
    "attacker sent/s",
    "accepted/s",
    "rejected/s",
    "reconnects/s",
    "server CPU (cores)",
  ], rows);
}

function key(runtime: Runtime, condition: Condition): string {
  return `${runtime}/${condition.id}`;
}

async function main(): Promise<number> {
  const quick = Deno.args.includes("--quick");
  for (const arg of Deno.args) {
    if (!/^--(quick|rounds=\d+|seconds=\d+|runtimes=.+|conditions=.+)$/.test(arg)) {
      console.error(`Unknown argument "${arg}"`);
      return 2;
    }
  }
  const rounds = Number(flag("rounds") ?? (quick ? 1 : 3));
  const seconds = Number(flag("seconds") ?? (quick ? 2 : 5));
  if (!(rounds >= 1 && rounds <= 100 && seconds >= 1 && seconds <= 600)) {
    console.error("--rounds must be 1 to 100, --seconds 1 to 600");
    return 2;
  }
  const onlyRuntimes = flag("runtimes")?.split(",");
  const onlyConditions = flag("conditions")?.split(",");
  const conditions = CONDITIONS.filter((c) => onlyConditions?.includes(c.id) ?? true);
  let runtimes = RUNTIMES.filter((r) => onlyRuntimes?.includes(r) ?? true);
  if (conditions.length === 0 || runtimes.length === 0) {
    console.error(`No such condition or runtime: conditions are ${CONDITIONS.map((c) => c.id)}`);
    return 2;
  }
  taskset = await hasTaskset();
  const bun = runtimes.includes("bun") ? await bunBinary().catch(() => undefined) : undefined;
  const bunVersion = bun ? await output(bun, ["--version"]) : "";
  if (!bun && runtimes.includes("bun")) {
    console.error("bun is not available: Bun is skipped");
    runtimes = runtimes.filter((r) => r !== "bun");
  }
  const root = new URL("..", import.meta.url).pathname;
  const commit = await output("git", ["-C", root, "rev-parse", "--short", "HEAD"]);
  const cpuModel = (await output("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo"]))
    .replace(/^model name\s*:\s*/, "");
  const loadavg = async () => (await output("cat", ["/proc/loadavg"])).split(" ").slice(0, 3);
  const machine = [
    `${navigator.hardwareConcurrency} cores (${cpuModel || "unknown CPU"}), ${Deno.build.os}`,
    `deno ${Deno.version.deno}${bunVersion ? `, bun ${bunVersion}` : ""}`,
    taskset ? "server on core 0, victim and attacker on core 1 (taskset)" : "not pinned",
    `${rounds} round(s) × ${seconds} s, 1 echo every 10 ms`,
    `commit ${commit || "unknown"}`,
    `load average at start ${(await loadavg()).join(" ")}`,
  ];
  console.error(`fairness harness: ${machine.join("; ")}`);

  const results = new Map<string, Run[]>();
  for (const runtime of runtimes) {
    for (const condition of conditions) results.set(key(runtime, condition), []);
  }
  const started = performance.now();
  for (let round = 1; round <= rounds; round++) {
    const forward = round % 2 === 1;
    for (const runtime of forward ? runtimes : runtimes.toReversed()) {
      for (const condition of forward ? conditions : conditions.toReversed()) {
        const t0 = performance.now();
        const run = await runOnce(runtime, condition, seconds, bun);
        results.get(key(runtime, condition))!.push(run);
        const took = ((performance.now() - t0) / 1000).toFixed(1);
        const rtts = [...run.victim?.rtts ?? []].sort((a, b) => a - b);
        const summary = run.ok
          ? `p50 ${ms(percentile(rtts, 0.5))} p99 ${ms(percentile(rtts, 0.99))} max ${
            ms(rtts.at(-1) ?? NaN)
          } cpu ${run.victim?.serverCpu} handshake ${run.victim?.handshakeMs} ms attacker ${
            JSON.stringify({ ...run.attacker, ok: undefined })
          } server ${JSON.stringify(run.server)}`
          : `FAIL: ${run.error}`;
        console.error(`[${round}/${rounds} · ${runtime} · ${condition.id} · ${took}s] ${summary}`);
      }
    }
  }
  const total = ((performance.now() - started) / 1000).toFixed(0);
  machine.push(`load average at end ${(await loadavg()).join(" ")}`);
  console.log(
    [
      `Machine: ${machine.join("; ")}.`,
      `Total time: ${total} s.`,
      "",
      report(runtimes, conditions, results),
    ].join("\n"),
  );
  return [...results.values()].some((runs) => runs.some((run) => !run.ok)) ? 1 : 0;
}

if (import.meta.main) await runMain(main);
