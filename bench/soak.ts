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
import { TOKEN } from "./servers/_behaviour.ts";

/** A server under test. */
interface ServerDef {
  readonly name: string;
  readonly runtime: "deno" | "bun";
  /** `bench/servers/<script>.ts`. */
  readonly script: string;
  /** The raw baseline it is compared with, for a switchboard server. */
  readonly baseline?: string;
}

const SERVERS: readonly ServerDef[] = [
  { name: "raw_deno", runtime: "deno", script: "raw_deno" },
  { name: "switchboard_deno", runtime: "deno", script: "switchboard_deno", baseline: "raw_deno" },
  { name: "raw_bun", runtime: "bun", script: "raw_bun" },
  { name: "switchboard_bun", runtime: "bun", script: "switchboard_bun", baseline: "raw_bun" },
];

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
const _KIB = 1024;
const _MIB = 1024 * 1024;

// ---------------------------------------------------------------- processes

const children = new Set<Deno.ChildProcess>();

function killAll(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
}

async function output(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await new Deno.Command(command, { args, stderr: "null" }).output();
    return new TextDecoder().decode(stdout).trim();
  } catch {
    return "";
  }
}

function timeout<T>(promise: Promise<T>, ms: number, value: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((resolve) => timer = setTimeout(() => resolve(value), ms)),
  ]).finally(() => clearTimeout(timer));
}

interface RunningServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

const here = new URL(".", import.meta.url);

async function startServer(def: ServerDef, taskset: boolean): Promise<RunningServer> {
  const script = new URL(`servers/${def.script}.ts`, here).pathname;
  let command = def.runtime === "deno"
    ? [Deno.execPath(), "run", "--allow-net=127.0.0.1", "--v8-flags=--expose-gc", script]
    : ["bun", script];
  if (taskset) command = ["taskset", "-c", "0", ...command];
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  children.add(child);
  child.status.finally(() => children.delete(child));
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    if (!await timeout(child.status.then(() => true), 3000, false)) {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone in between
      }
      await child.status;
    }
  };
  // The first line is {"port":N}; the rest of stdout is drained and dropped.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = (async () => {
    let buffered = "";
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffered += value;
    }
    (async () => {
      try {
        while (!(await reader.read()).done) { /* discard */ }
      } catch {
        // killed
      }
    })();
    return buffered.slice(0, buffered.indexOf("\n"));
  })();
  const line = await timeout(first, 15_000, null);
  let port: number | undefined;
  try {
    port = JSON.parse(line ?? "").port;
  } catch {
    // not JSON
  }
  if (typeof port !== "number") {
    await stop();
    throw new Error(`${def.name} did not print {"port":N} (got ${JSON.stringify(line)})`);
  }
  // On Linux, taskset execs the runtime: the pid is the server's.
  return { port, pid: child.pid, stop };
}

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
  #carry: Uint8Array | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closing = false;
  /** Why the connection ended before the soak closed it, if it did. */
  ended: string | undefined;
  pings = 0;
  readonly reading: Promise<void>;

  constructor(conn: Deno.TcpConn, index: number, leftover: Uint8Array) {
    this.#conn = conn;
    this.index = index;
    if (leftover.length > 0) this.#feed(leftover, leftover.length);
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
        this.#feed(buffer, n);
      }
    } catch (error) {
      if (!this.#closing) this.ended ??= `read failed: ${error}`;
    }
  }

  #feed(chunk: Uint8Array, length: number): void {
    let data = chunk.subarray(0, length);
    if (this.#carry !== undefined) {
      const joined = new Uint8Array(this.#carry.length + length);
      joined.set(this.#carry);
      joined.set(data, this.#carry.length);
      data = joined;
      this.#carry = undefined;
    }
    let at = 0;
    while (at + 2 <= data.length) {
      const opcode = data[at] & 0x0f;
      let size = data[at + 1] & 0x7f;
      let header = 2;
      if (size === 126) {
        if (at + 4 > data.length) break;
        size = (data[at + 2] << 8) | data[at + 3];
        header = 4;
      } else if (size === 127) {
        this.ended ??= "an unexpected 64-bit frame";
        return;
      }
      const start = at + header;
      const stop = start + size;
      if (stop > data.length) break;
      if (opcode === 0x9) {
        this.pings++;
        this.#pong(data.slice(start, stop));
      } else if (opcode === 0x8) {
        const code = size >= 2 ? (data[start] << 8) | data[start + 1] : 1005;
        const reason = _decoder.decode(data.subarray(start + 2, stop));
        this.ended ??= `close frame ${code} "${reason}"`;
      } else if (opcode !== 0xa) {
        const text = _decoder.decode(data.subarray(start, Math.min(stop, start + 80)));
        this.ended ??= `an unexpected frame (opcode ${opcode}): ${text}`;
      }
      at = stop;
    }
    if (at < data.length) this.#carry = data.slice(at);
  }

  #pong(payload: Uint8Array): void {
    const frame = new Uint8Array(6 + payload.length); // pings carry at most 125 bytes
    frame[0] = 0x8a;
    frame[1] = 0x80 | payload.length;
    const mask = crypto.getRandomValues(new Uint8Array(4));
    frame.set(mask, 2);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i & 3];
    this.#writing = this.#writing.then(() => _writeAll(this.#conn, frame)).catch((error) => {
      if (!this.#closing) this.ended ??= `pong failed: ${error}`;
    });
  }
}

async function _writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

async function openOne(port: number, index: number): Promise<Held> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await _writeAll(
      conn,
      _encoder.encode(
        `GET /?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    let head = new Uint8Array(0);
    const buffer = new Uint8Array(1024);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) throw new SoakFailure(`connect #${index}: closed during the handshake`);
      const grown = new Uint8Array(head.length + n);
      grown.set(head);
      grown.set(buffer.subarray(0, n), head.length);
      head = grown;
      let end = -1;
      for (let i = 0; i + 3 < head.length; i++) {
        if (head[i] === 13 && head[i + 1] === 10 && head[i + 2] === 13 && head[i + 3] === 10) {
          end = i;
          break;
        }
      }
      if (end < 0) continue;
      const status = _decoder.decode(head.subarray(0, 12));
      if (status !== "HTTP/1.1 101") {
        throw new SoakFailure(`connect #${index}: got "${status}" instead of 101`);
      }
      return new Held(conn, index, head.slice(end + 4));
    }
  } catch (error) {
    conn.close();
    throw error;
  }
}

async function openMany(port: number, n: number, concurrency: number): Promise<Held[]> {
  const held: Held[] = [];
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < n && failure === undefined) {
      try {
        held.push(await openOne(port, next++));
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  if (failure !== undefined) {
    for (const h of held) h.close();
    throw failure;
  }
  return held;
}

interface Mem {
  rss: number;
  heap: number;
  members: number;
}

async function mem(port: number): Promise<Mem> {
  const response = await fetch(`http://127.0.0.1:${port}/mem`);
  if (!response.ok) throw new SoakFailure(`GET /mem answered ${response.status}`);
  return await response.json();
}

/** Polls `/mem` (bounded) until the room has `members` members. */
async function waitMembers(port: number, members: number, ms: number): Promise<Mem> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await mem(port);
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
  taskset: boolean,
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
  const server = await startServer(def, taskset);
  let held: Held[] = [];
  try {
    await waitMembers(server.port, 0, 5000);
    const before = await mem(server.port);
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
    const end = await mem(server.port);
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

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
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

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

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
  const taskset = (await output("taskset", ["-c", "0", "echo", "ok"])) === "ok";
  const bun = await output("bun", ["--version"]);
  let servers = SERVERS.filter((s) => only === undefined || only.includes(s.name));
  if (!bun && servers.some((s) => s.runtime === "bun")) {
    console.error("bun is not installed: the Bun servers are skipped");
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
      result = await timeout(
        soakOne(def, sessions, seconds, concurrency, taskset),
        hardMs,
        undefined as unknown as SoakResult,
      );
      if (result === undefined) throw new SoakFailure(`no result in ${hardMs} ms`);
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

if (import.meta.main) {
  const stop = () => {
    killAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let code = 1;
  try {
    code = await main();
  } finally {
    killAll();
  }
  Deno.exit(code);
}
