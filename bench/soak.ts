/**
 * The soak: `deno task soak`. Not part of `deno task test`.
 *
 * For each server under test (`bench/servers/*.ts`: the raw baseline and
 * switchboard, on Deno and on Bun), one after the other in the same run:
 * start it fresh (pinned to core 0 with `taskset` where it exists), open
 * 10,000 WebSocket sessions from this process over raw TCP, 200 at a time,
 * hold them for 60 s answering the servers' pings, and check that every
 * one is still open at the end, on both sides: no close frame and no end of
 * stream on any connection, and the server's room still has every member.
 * Memory is read from the server's `GET /mem` after a GC (RSS and JS heap)
 * before the sessions open, once they are all open, and at the end of the
 * hold; RSS is also sampled every 5 s without a GC from `/proc/<pid>/status`.
 * The report gives memory per session, and switchboard's over the raw
 * baseline of the same runtime, as Markdown.
 *
 * Everything is on 127.0.0.1. Each server's run has a hard timeout; every
 * child is killed at the end, also on failure or Ctrl-C. The exit status is
 * 1 if any session closed or any run failed.
 *
 * ```sh
 * deno task soak                                   # 10,000 sessions × 60 s on 4 servers: ~5 min
 * deno task soak --sessions=2000 --seconds=10      # a quick look
 * deno task soak --servers=raw_deno,switchboard_deno --json=.bench-out/soak.json
 * ```
 *
 * It needs `ulimit -n` above the session count (each side holds one
 * descriptor per session).
 *
 * @module
 */
import { pool } from "../tests/_pool.ts";
import { connectRaw, FrameParser, maskFrame, writeAll } from "../tests/_raw_ws.ts";
import {
  bunBinary,
  flag,
  hasTaskset,
  killAll,
  output,
  runMain,
  type ServerDef as BaseServerDef,
  startServer,
  type StartServerOptions,
  table,
  timeout,
} from "./_process.ts";
import { fetchMem, type MemReport, TOKEN } from "./servers/_behaviour.ts";

/** A server under test. */
interface ServerDef extends BaseServerDef {
  /** The raw baseline it is compared with, for a switchboard server. */
  readonly baseline?: string;
}

const SERVERS: readonly ServerDef[] = [
  { name: "raw_deno", runtime: "deno", script: "raw_deno" },
  { name: "switchboard_deno", runtime: "deno", script: "switchboard_deno", baseline: "raw_deno" },
  { name: "raw_bun", runtime: "bun", script: "raw_bun" },
  { name: "switchboard_bun", runtime: "bun", script: "switchboard_bun", baseline: "raw_bun" },
];

const _decoder = new TextDecoder();
const _KIB = 1024;
const _MIB = 1024 * 1024;

// ---------------------------------------------------------------- processes

/** The RSS of a process from `/proc/<pid>/status`, without a GC; NaN if unknown. */
function procRss(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kib === undefined ? NaN : Number(kib) * _KIB;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- client

/** Why the soak failed; every connection and phase reports here. */
class SoakFailure extends Error {
  override name = "SoakFailure";
}

/** One held session: a raw TCP WebSocket that answers pings and expects nothing else. */
class Held {
  readonly #conn: Deno.TcpConn;
  readonly index: number;
  readonly #parser = new FrameParser((opcode, _fin, _masked, data, start, stop) =>
    this.#frame(opcode, data, start, stop)
  );
  #writing: Promise<void> = Promise.resolve();
  #closing = false;
  /** Why the connection ended before the soak closed it, if it did. */
  ended: string | undefined;
  pings = 0;
  readonly reading: Promise<void>;

  constructor(conn: Deno.TcpConn, index: number, leftover: Uint8Array) {
    this.#conn = conn;
    this.index = index;
    if (leftover.length > 0) this.#parser.push(leftover);
    this.reading = this.#read();
  }

  close(): void {
    this.#closing = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(512);
    try {
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          this.ended ??= "end of stream";
          return;
        }
        this.#parser.push(buffer, n);
      }
    } catch (error) {
      if (!this.#closing) this.ended ??= `read failed: ${error}`;
    }
  }

  #frame(opcode: number, data: Uint8Array, start: number, stop: number): void {
    if (opcode === 0x9) {
      this.pings++;
      this.#pong(data.slice(start, stop));
    } else if (opcode === 0x8) {
      const code = stop - start >= 2 ? (data[start] << 8) | data[start + 1] : 1005;
      const reason = _decoder.decode(data.subarray(start + 2, stop));
      this.ended ??= `close frame ${code} "${reason}"`;
    } else if (opcode !== 0xa) {
      const text = _decoder.decode(data.subarray(start, Math.min(stop, start + 80)));
      this.ended ??= `an unexpected frame (opcode ${opcode}): ${text}`;
    }
  }

  #pong(payload: Uint8Array): void {
    const frame = maskFrame(payload, 0xa);
    this.#writing = this.#writing.then(() => writeAll(this.#conn, frame)).catch((error) => {
      if (!this.#closing) this.ended ??= `pong failed: ${error}`;
    });
  }
}

async function openOne(port: number, index: number): Promise<Held> {
  try {
    const { conn, leftover } = await connectRaw(`ws://127.0.0.1:${port}/?token=${TOKEN}`);
    return new Held(conn, index, leftover);
  } catch (error) {
    throw new SoakFailure(`connect #${index}: ${error instanceof Error ? error.message : error}`);
  }
}

async function openMany(port: number, n: number, concurrency: number): Promise<Held[]> {
  const held: Held[] = [];
  try {
    await pool(n, concurrency, async (i) => {
      held.push(await openOne(port, i));
    });
  } catch (error) {
    for (const h of held) h.close();
    throw error;
  }
  return held;
}

/** Polls `/mem` (bounded) until the room has `members` members. */
async function waitMembers(port: number, members: number, ms: number): Promise<MemReport> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await fetchMem(port);
    if (m.members === members) return m;
    if (Date.now() > deadline) {
      throw new SoakFailure(`the room has ${m.members} members after ${ms} ms, not ${members}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---------------------------------------------------------------- one run

/** What one server's soak measured. */
interface SoakResult {
  ok: boolean;
  error?: string;
  sessions: number;
  heldSeconds: number;
  connectSeconds: number;
  /** After GC: before any session, once all were open, at the end of the hold. */
  rss: [number, number, number];
  heap: [number, number, number];
  /** RSS without GC, sampled during the hold: lowest and highest. */
  rssHoldMin: number;
  rssHoldMax: number;
  /** Bytes per session, after GC, at the start and at the end of the hold. */
  rssPerSessionStart: number;
  rssPerSessionEnd: number;
  heapPerSessionStart: number;
  heapPerSessionEnd: number;
  /** Sessions still open at the end, as the client and as the server count them. */
  openClientSide: number;
  openServerSide: number;
  /** Pings the server sent during the hold, all sessions together (answered). */
  pings: number;
}

async function soakOne(
  def: ServerDef,
  sessions: number,
  seconds: number,
  concurrency: number,
  launch: StartServerOptions,
): Promise<SoakResult> {
  const result: SoakResult = {
    ok: false,
    sessions,
    heldSeconds: 0,
    connectSeconds: 0,
    rss: [NaN, NaN, NaN],
    heap: [NaN, NaN, NaN],
    rssHoldMin: NaN,
    rssHoldMax: NaN,
    rssPerSessionStart: NaN,
    rssPerSessionEnd: NaN,
    heapPerSessionStart: NaN,
    heapPerSessionEnd: NaN,
    openClientSide: 0,
    openServerSide: 0,
    pings: 0,
  };
  const server = await startServer(def, launch);
  let held: Held[] = [];
  try {
    await waitMembers(server.port, 0, 5000);
    const before = await fetchMem(server.port);
    const t0 = performance.now();
    held = await openMany(server.port, sessions, concurrency);
    result.connectSeconds = round((performance.now() - t0) / 1000, 2);
    const open = await waitMembers(server.port, sessions, 30_000);
    const h0 = performance.now();
    let lo = Infinity;
    let hi = 0;
    const deadline = h0 + seconds * 1000;
    while (performance.now() < deadline) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(5000, deadline - performance.now()))
      );
      const rss = procRss(server.pid);
      lo = Math.min(lo, rss);
      hi = Math.max(hi, rss);
      const gone = held.find((h) => h.ended !== undefined);
      if (gone !== undefined) {
        throw new SoakFailure(`session #${gone.index} ended during the hold: ${gone.ended}`);
      }
    }
    result.heldSeconds = round((performance.now() - h0) / 1000, 1);
    const end = await fetchMem(server.port);
    result.rss = [before.rss, open.rss, end.rss];
    result.heap = [before.heap, open.heap, end.heap];
    result.rssHoldMin = lo;
    result.rssHoldMax = hi;
    result.rssPerSessionStart = Math.round((open.rss - before.rss) / sessions);
    result.rssPerSessionEnd = Math.round((end.rss - before.rss) / sessions);
    result.heapPerSessionStart = Math.round((open.heap - before.heap) / sessions);
    result.heapPerSessionEnd = Math.round((end.heap - before.heap) / sessions);
    result.openClientSide = held.filter((h) => h.ended === undefined).length;
    result.openServerSide = end.members;
    result.pings = held.reduce((sum, h) => sum + h.pings, 0);
    if (result.openClientSide !== sessions || result.openServerSide !== sessions) {
      const gone = held.find((h) => h.ended !== undefined);
      throw new SoakFailure(
        `${result.openClientSide} open on the client, ${result.openServerSide} on the server, ` +
          `of ${sessions}` + (gone ? `; #${gone.index}: ${gone.ended}` : ""),
      );
    }
    result.ok = true;
  } catch (error) {
    result.error = error instanceof SoakFailure ? error.message : String(error);
  } finally {
    for (const h of held) h.close();
    await timeout(Promise.all(held.map((h) => h.reading)), 5000, []);
    await server.stop();
  }
  return result;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

// ---------------------------------------------------------------- report

function kb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / _KIB).toFixed(2)} KB` : "—";
}

function mb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / _MIB).toFixed(1)} MiB` : "—";
}

function signedKb(bytes: number): string {
  if (!Number.isFinite(bytes)) return "—";
  return `${bytes >= 0 ? "+" : "−"}${(Math.abs(bytes) / _KIB).toFixed(2)} KB`;
}

function report(servers: readonly ServerDef[], results: Record<string, SoakResult>): string {
  const names = servers.map((s) => s.name);
  const col = (f: (r: SoakResult) => string) =>
    names.map((n) => results[n] === undefined ? "—" : f(results[n]));
  const absolute = table(["figure", ...names], [
    [
      "sessions open at the end (client / server)",
      ...col((r) =>
        r.ok
          ? `${r.openClientSide} / ${r.openServerSide}`
          : `**FAIL**: ${r.openClientSide} / ${r.openServerSide}`
      ),
    ],
    ["held (s)", ...col((r) => String(r.heldSeconds))],
    ["connect time (s)", ...col((r) => String(r.connectSeconds))],
    ["RSS after GC: before / all open / end of hold", ...col((r) => r.rss.map(mb).join(" / "))],
    [
      "RSS during the hold, no GC: lowest–highest",
      ...col((r) => `${mb(r.rssHoldMin)}–${mb(r.rssHoldMax)}`),
    ],
    ["RSS per session, all open", ...col((r) => kb(r.rssPerSessionStart))],
    ["RSS per session, end of hold", ...col((r) => kb(r.rssPerSessionEnd))],
    ["JS heap per session, all open", ...col((r) => kb(r.heapPerSessionStart))],
    ["JS heap per session, end of hold", ...col((r) => kb(r.heapPerSessionEnd))],
    ["pings answered during the hold", ...col((r) => String(r.pings))],
  ]);
  const pairs = servers.filter((s) => s.baseline !== undefined && names.includes(s.baseline));
  const over = table(
    ["switchboard over raw, same run", ...pairs.map((s) => `${s.name} − ${s.baseline}`)],
    [
      ["RSS per session, all open", "rssPerSessionStart"],
      ["RSS per session, end of hold", "rssPerSessionEnd"],
      ["JS heap per session, all open", "heapPerSessionStart"],
      ["JS heap per session, end of hold", "heapPerSessionEnd"],
    ].map(([label, key]) => [
      label,
      ...pairs.map((s) => {
        const a = results[s.name], b = results[s.baseline!];
        if (!a?.ok || !b?.ok) return "—";
        const k = key as keyof SoakResult;
        return signedKb((a[k] as number) - (b[k] as number));
      }),
    ]),
  );
  const failures = names.filter((n) => results[n] && !results[n].ok).map((n) =>
    `- ${n}: ${results[n].error}`
  );
  return [absolute, "", over, ...(failures.length ? ["", "FAILURES:", ...failures] : [])].join(
    "\n",
  );
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  for (const arg of Deno.args) {
    if (!/^--(sessions|seconds|concurrency|servers|json)=.+$/.test(arg)) {
      console.error(`Unknown argument "${arg}"`);
      return 2;
    }
  }
  const sessions = Number(flag("sessions") ?? 10_000);
  const seconds = Number(flag("seconds") ?? 60);
  const concurrency = Number(flag("concurrency") ?? 200);
  const only = flag("servers")?.split(",");
  const jsonPath = flag("json");
  if (!(sessions > 0) || !(seconds > 0) || !(concurrency > 0)) {
    console.error("--sessions, --seconds and --concurrency must be positive");
    return 2;
  }
  const taskset = await hasTaskset();
  const bunPath = await bunBinary().catch(() => undefined);
  const bun = bunPath ? await output(bunPath, ["--version"]) : "";
  let servers = SERVERS.filter((s) => only === undefined || only.includes(s.name));
  if (!bun && servers.some((s) => s.runtime === "bun")) {
    console.error("bun is not available: the Bun servers are skipped");
    servers = servers.filter((s) => s.runtime !== "bun");
  }
  const limit = Number(await output("sh", ["-c", "ulimit -n"]));
  if (Number.isFinite(limit) && limit < sessions + 100) {
    console.error(`ulimit -n is ${limit}: too low for ${sessions} sessions`);
    return 2;
  }
  const machine = [
    `${navigator.hardwareConcurrency} cores, ${Deno.build.os}`,
    `deno ${Deno.version.deno}${bun ? `, bun ${bun}` : ""}`,
    taskset ? "server pinned to core 0 (taskset)" : "not pinned",
    `${sessions} sessions × ${seconds} s, ${concurrency} connecting at a time`,
    `load average at start ${
      (await output("cat", ["/proc/loadavg"])).split(" ").slice(0, 3).join(" ")
    }`,
  ];
  console.error(`soak: ${machine.join("; ")}`);
  const results: Record<string, SoakResult> = {};
  const started = performance.now();
  for (const def of servers) {
    const t0 = performance.now();
    const hardMs = (seconds + 90) * 1000;
    let result: SoakResult;
    try {
      const done = await timeout(
        soakOne(def, sessions, seconds, concurrency, { taskset, bun: bunPath }),
        hardMs,
        undefined,
      );
      if (done === undefined) throw new SoakFailure(`no result in ${hardMs} ms`);
      result = done;
    } catch (error) {
      killAll();
      result = { ok: false, error: String(error) } as SoakResult;
    }
    results[def.name] = result;
    console.error(
      `[${def.name} · ${((performance.now() - t0) / 1000).toFixed(0)} s] ${
        result.ok
          ? `ok: ${kb(result.rssPerSessionStart)} → ${kb(result.rssPerSessionEnd)} RSS per session`
          : `FAIL: ${result.error}`
      }`,
    );
  }
  const total = ((performance.now() - started) / 1000).toFixed(0);
  console.log(
    [`Machine: ${machine.join("; ")}.`, `Total time: ${total} s.`, "", report(servers, results)]
      .join("\n"),
  );
  if (jsonPath) {
    await Deno.writeTextFile(jsonPath, JSON.stringify({ machine, results }, null, 2));
  }
  return Object.values(results).every((r) => r.ok) ? 0 : 1;
}

if (import.meta.main) await runMain(main);
