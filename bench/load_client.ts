/**
 * The load-client process of the end-to-end harness (`bench/load.ts` starts
 * it, pinned to its own core). It runs one scenario against one server under
 * test and prints one JSON line with the figures.
 *
 * It speaks WebSocket over raw TCP (`Deno.connect`) and parses frames
 * itself: counting a frame costs a few byte reads, so a batched server is
 * not hidden behind a client that dispatches one `MessageEvent` per
 * message. It also reports its own CPU time and the server's (from
 * `/proc/<pid>/stat`) over the measured window, so a client-bound figure is
 * visible.
 *
 * Any lost, extra or reordered message, a close frame, a socket that ends,
 * or the hard timeout makes it print the reason and exit with status 1.
 *
 * The fan-out and relay scenarios share one path: C subscribers in the
 * room, rounds of P numbered messages that every subscriber must get all
 * of, in order. In a fan-out round one control message makes the server
 * publish P ticks in one JS tick; in a relay round a publisher that is
 * itself in the room sends P separate messages as fast as it can (one
 * frame, one write each, nothing awaited in between), and the server
 * relays each to the room except the sender. Both report the TCP segments
 * the server sent per delivery (`ss -ti`, `segs_out` summed over the
 * server's sockets on its port) beside the host-wide count, and how many
 * messages arrived inside batch frames (`switchboard.batch`).
 *
 * ```sh
 * deno run -A bench/load_client.ts \
 *   '{"scenario":"fanout","port":8080,"clients":1000,"count":1000}'
 * deno run -A bench/load_client.ts \
 *   '{"scenario":"relay","port":8080,"clients":1000,"count":1000,"protocol":"switchboard.batch"}'
 * ```
 *
 * @module
 */
import process from "node:process";
import { pool } from "../tests/_pool.ts";
import { cpuSeconds, residentBytes } from "./_process.ts";
import { FrameParser, maskFrame, type RawUpgrade, upgradeRaw, writeAll } from "../tests/_raw_ws.ts";
import { decodeFrame } from "../mod.ts";
import {
  fetchMem,
  type MemReport,
  RELAY_PREFIX,
  TICK_PREFIX,
  tickPad,
  TOKEN,
} from "./servers/_behaviour.ts";

/** What to run: a scenario and its sizes. Fields a scenario does not use are ignored. */
export interface ClientSpec {
  /** The scenario. */
  scenario: "fanout" | "relay" | "echo" | "memory" | "connects";
  /** The server's port on 127.0.0.1. */
  port: number;
  /** The server's process id, to read its CPU time; 0 to skip. */
  serverPid?: number;
  /** Hard timeout of the whole run, in milliseconds. */
  timeoutMs?: number;
  /** Connections opened at a time. */
  concurrency?: number;
  /** fanout and relay: subscribers. connects: connections. memory: idle sessions. */
  clients?: number;
  /**
   * memory: seconds the server is left alone after the connects before
   * its RSS is read without a forced GC (from `/proc`, with `serverPid`).
   */
  idleSeconds?: number;
  /** fanout: messages per publish burst. relay: messages the publisher sends per round. */
  count?: number;
  /** fanout, relay and echo: message size in bytes. */
  size?: number;
  /** fanout and relay: measured rounds at least (the median is reported). */
  rounds?: number;
  /** fanout and relay: more rounds (up to 25) until they took this many seconds in all. */
  minSeconds?: number;
  /** fanout and relay: messages in the warm-up round (0 for none). */
  warmup?: number;
  /**
   * fanout and relay: after the warm-up round, whole unmeasured rounds
   * until the warm-up took this many seconds (a server that finishes a
   * round in a fraction of a second is still tiering up its JIT then).
   */
  warmupSeconds?: number;
  /**
   * fanout and relay: a subprotocol the subscribers offer and the server
   * must accept (`"switchboard.batch"`: text frames may hold a JSON array of
   * envelopes). Without it, a batch frame fails the run.
   */
  protocol?: string;
  /** echo: sequential round trips on one connection. */
  sequential?: number;
  /** echo: concurrent connections. */
  concurrent?: number;
  /** echo: round trips per concurrent connection. */
  perClient?: number;
}

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

let _phase = "start";
let _exiting = false;

/** Prints why the run failed and exits with status 1. */
function _fail(message: string): never {
  if (!_exiting) {
    _exiting = true;
    const text = `load_client: FAIL in ${_phase}: ${message}`;
    console.error(text);
    console.log(JSON.stringify({ ok: false, error: text }));
  }
  Deno.exit(1);
}

type TextHandler = (ws: _Ws, data: Uint8Array, start: number, end: number) => void;

/** One client WebSocket over a raw TCP connection. */
class _Ws {
  readonly conn: Deno.TcpConn;
  readonly index: number;
  onText: TextHandler = _unexpectedText;
  /** fanout: the next sequence number expected, and how many this burst has. */
  expected = 0;
  target = 0;
  /** echo: the round trip waiting for its answer. */
  waiting: ((seq: number) => void) | undefined;
  readonly #parser = new FrameParser((opcode, fin, masked, data, start, stop) => {
    if (masked) _fail(`connection #${this.index}: the server sent a masked frame`);
    if (!fin || opcode === 0) {
      _fail(`connection #${this.index}: fragmented frame (opcode ${opcode}) not expected`);
    }
    if (opcode === 1) {
      this.onText(this, data, start, stop);
    } else if (opcode === 9) {
      this.send(data.slice(start, stop), 0xa);
    } else if (opcode === 8) {
      const code = stop - start >= 2 ? (data[start] << 8) | data[start + 1] : 1005;
      const reason = _decoder.decode(data.subarray(start + 2, stop));
      _fail(`connection #${this.index} got a close frame: ${code} "${reason}"`);
    } else if (opcode !== 0xa) {
      _fail(`connection #${this.index}: unexpected opcode ${opcode}`);
    }
  });
  #writing: Promise<void> = Promise.resolve();

  constructor(conn: Deno.TcpConn, index: number) {
    this.conn = conn;
    this.index = index;
  }

  /** Reads frames until the process exits; an end of stream fails the run. */
  async read(bufferSize: number, leftover: Uint8Array): Promise<void> {
    if (leftover.length > 0) this.#parser.push(leftover);
    const buffer = new Uint8Array(bufferSize);
    for (;;) {
      let n: number | null;
      try {
        n = await this.conn.read(buffer);
      } catch (error) {
        if (_exiting) return;
        _fail(`connection #${this.index} failed: ${error}`);
      }
      if (n === null) {
        if (_exiting) return;
        _fail(`connection #${this.index} was closed by the server (end of stream)`);
      }
      _reads++;
      this.#parser.push(buffer, n);
    }
  }

  /** Sends a masked frame; writes on one connection never interleave. */
  send(payload: string | Uint8Array, opcode = 1): Promise<void> {
    const bytes = typeof payload === "string" ? _encoder.encode(payload) : payload;
    return this.write(maskFrame(bytes, opcode));
  }

  /** Writes a frame already masked, after the writes before it, in one `write` if it fits. */
  write(frame: Uint8Array): Promise<void> {
    this.#writing = this.#writing.then(() => writeAll(this.conn, frame)).catch((error) => {
      if (!_exiting) _fail(`connection #${this.index}: write failed: ${error}`);
    });
    return this.#writing;
  }
}

function _unexpectedText(ws: _Ws, data: Uint8Array, start: number, end: number): void {
  const text = _decoder.decode(data.subarray(start, Math.min(end, start + 80)));
  _fail(`connection #${ws.index} got an unexpected message: ${text}`);
}

/** Sends the upgrade request for `/?query` on a fresh connection and reads the response head. */
function _handshake(port: number, query: string, protocol?: string): Promise<RawUpgrade> {
  return upgradeRaw(`ws://127.0.0.1:${port}/?${query}`, { protocol, noDelay: true });
}

let _opened = 0;
let _reads = 0;

/** Opens one WebSocket with the token and starts reading it. */
async function _open(
  port: number,
  query: string,
  bufferSize: number,
  protocol?: string,
): Promise<_Ws> {
  let handshake: RawUpgrade;
  try {
    handshake = await _handshake(port, `token=${TOKEN}${query}`, protocol);
  } catch (error) {
    _fail(`connect #${_opened} failed: ${error}`);
  }
  if (handshake.status !== 101) {
    _fail(`connect #${_opened} got HTTP ${handshake.status} instead of 101`);
  }
  const ws = new _Ws(handshake.conn, _opened++);
  ws.read(bufferSize, handshake.leftover);
  return ws;
}

/** Opens `n` WebSockets, `concurrency` at a time; `times` gets each handshake's duration. */
function _openMany(
  port: number,
  n: number,
  concurrency: number,
  bufferSize: number,
  times?: number[],
  protocol?: string,
): Promise<_Ws[]> {
  return pool(n, concurrency, async () => {
    const t0 = performance.now();
    const ws = await _open(port, "", bufferSize, protocol);
    times?.push(performance.now() - t0);
    return ws;
  });
}

function _mem(port: number, gc = true): Promise<MemReport> {
  return fetchMem(port, gc).catch((error) => _fail(error.message));
}

/** Polls `/mem` until the room has `members` members (`gc`: forcing a GC each time). */
async function _waitMembers(port: number, members: number, gc = true): Promise<void> {
  for (;;) {
    const mem = await _mem(port, gc);
    if (mem.members === members) return;
    if (mem.members > members) _fail(`the room has ${mem.members} members, expected ${members}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** CPU seconds (user, system) of a process so far: this one from `getrusage`. */
function _cpuSeconds(pid: number | "self"): [number, number] {
  if (pid !== "self") return cpuSeconds(pid);
  const { user, system } = process.cpuUsage();
  return [user / 1e6, system / 1e6];
}

/** TCP segments sent on this host so far, both directions (`Tcp: OutSegs`). */
function _tcpOutSegments(): number {
  try {
    const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
      l.startsWith("Tcp:")
    );
    const names = lines[0].split(" "), values = lines[1].split(" ");
    return Number(values[names.indexOf("OutSegs")]);
  } catch {
    return NaN;
  }
}

/**
 * TCP segments the server has sent so far on its established connections
 * on `port` (`segs_out` of each, from `ss -ti`; `ss` omits a zero), or
 * `NaN` if `ss` cannot run. Loopback only: these are the server's sockets,
 * not the client's ends.
 */
async function _serverSegments(port: number): Promise<number> {
  try {
    const { success, stdout } = await new Deno.Command("ss", {
      args: ["-tinH", "state", "established", "sport", "=", `:${port}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!success) return NaN;
    let sum = 0;
    for (const match of _decoder.decode(stdout).matchAll(/\bsegs_out:(\d+)/g)) {
      sum += Number(match[1]);
    }
    return sum;
  } catch {
    return NaN;
  }
}

/**
 * Measures, over one or more windows, the CPU both processes use, the TCP
 * segments sent (host-wide, so both directions) and the client's reads.
 */
class _CpuWindow {
  readonly #serverPid: number;
  #t0 = 0;
  #client0 = [0, 0];
  #server0 = [0, 0];
  #segments0 = 0;
  #reads0 = 0;
  #wall = 0;
  #client = [0, 0];
  #server = [0, 0];
  #segments = 0;
  #reads = 0;

  constructor(serverPid: number) {
    this.#serverPid = serverPid;
  }

  start(): void {
    this.#t0 = performance.now();
    this.#client0 = _cpuSeconds("self");
    this.#server0 = this.#serverPid > 0 ? _cpuSeconds(this.#serverPid) : [NaN, NaN];
    this.#segments0 = _tcpOutSegments();
    this.#reads0 = _reads;
  }

  stop(): void {
    this.#wall += (performance.now() - this.#t0) / 1000;
    const client = _cpuSeconds("self");
    const server = this.#serverPid > 0 ? _cpuSeconds(this.#serverPid) : [NaN, NaN];
    for (let i = 0; i < 2; i++) {
      this.#client[i] += client[i] - this.#client0[i];
      this.#server[i] += server[i] - this.#server0[i];
    }
    this.#segments += _tcpOutSegments() - this.#segments0;
    this.#reads += _reads - this.#reads0;
  }

  /** Segments sent and client reads in the windows. */
  get counts(): { segments: number; reads: number } {
    return { segments: this.#segments, reads: this.#reads };
  }

  /**
   * CPU seconds per wall second: the client's, the server's, and the
   * server's share spent in the kernel.
   */
  get result(): {
    clientCpu: number;
    serverCpu: number | null;
    serverSysShare: number | null;
    wallSeconds: number;
  } {
    const server = this.#server[0] + this.#server[1];
    const known = this.#serverPid > 0 && Number.isFinite(server);
    return {
      clientCpu: _round((this.#client[0] + this.#client[1]) / this.#wall, 3),
      serverCpu: known ? _round(server / this.#wall, 3) : null,
      serverSysShare: known && server > 0 ? _round(this.#server[1] / server, 3) : null,
      wallSeconds: _round(this.#wall, 3),
    };
  }
}

function _round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function _percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index];
}

function _median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// ---------------------------------------------------------------- fan-out and relay

let _remaining = 0;
let _roundDone: (() => void) | undefined;

/** The topic of the numbered messages: `"tick"` (fan-out) or `"relay"`. */
let _topic = "tick";
/** Their first bytes, up to the digits of `seq`. */
let _prefix = _encoder.encode(TICK_PREFIX);
/** The bytes after the digits of `seq`: `,"pad":"xx…"}}`. */
let _tickTail = 0;
/** Whether the subscribers offered `switchboard.batch`, so that batch frames may come. */
let _batchAllowed = false;
/** The subscriber whose every frame is also decoded with `decodeFrame` and compared. */
let _sampled: _Ws | undefined;

/** Text frames and messages the subscribers got, and those in batch frames. */
const _frames = { frames: 0, messages: 0, batchFrames: 0, batched: 0 };

/** Checks one text frame of ticks: one envelope, or a batch frame (a JSON array of them). */
function _onTick(ws: _Ws, data: Uint8Array, start: number, end: number): void {
  const first = ws.expected;
  _frames.frames++;
  if (data[start] !== 0x5b) {
    if (_tick(ws, data, start, end) !== end) _unexpectedText(ws, data, start, end);
    _frames.messages++;
  } else {
    if (!_batchAllowed) _fail(`subscriber #${ws.index} got a batch frame it did not ask for`);
    let at = start + 1;
    for (;;) {
      at = _tick(ws, data, at, end);
      if (data[at] === 0x2c) {
        at++;
      } else if (data[at] === 0x5d && at + 1 === end) {
        break;
      } else {
        _unexpectedText(ws, data, start, end);
      }
    }
    const n = ws.expected - first;
    _frames.batchFrames++;
    _frames.messages += n;
    _frames.batched += n;
  }
  if (ws === _sampled) _checkDecoded(ws, data.subarray(start, end), first);
}

/**
 * Decodes a frame the byte parser has counted with the library's own
 * `decodeFrame`, and fails unless it holds the same envelopes: the topic,
 * and `seq` from `first` up, in order.
 */
function _checkDecoded(ws: _Ws, frame: Uint8Array, first: number): void {
  const text = _decoder.decode(frame);
  let envelopes;
  try {
    envelopes = decodeFrame(text);
  } catch (error) {
    _fail(`subscriber #${ws.index}: decodeFrame rejected a frame: ${error}`);
  }
  const seqs = envelopes.map((e) => e.topic === _topic && (e.data as { seq?: unknown })?.seq);
  const wanted = Array.from({ length: ws.expected - first }, (_, i) => first + i);
  if (JSON.stringify(seqs) !== JSON.stringify(wanted)) {
    _fail(`subscriber #${ws.index}: decodeFrame disagrees on ${text.slice(0, 120)}`);
  }
}

/** Checks and counts the tick envelope at `start`; returns the offset just after it. */
function _tick(ws: _Ws, data: Uint8Array, start: number, end: number): number {
  const prefix = _prefix;
  if (end - start < prefix.length + 1 + _tickTail) _unexpectedText(ws, data, start, end);
  for (let i = 0; i < prefix.length; i++) {
    if (data[start + i] !== prefix[i]) _unexpectedText(ws, data, start, end);
  }
  let seq = 0;
  let at = start + prefix.length;
  for (let c = data[at]; c >= 48 && c <= 57; c = data[++at]) seq = seq * 10 + c - 48;
  const next = at + _tickTail;
  if (next > end || data[at] !== 0x2c || data[next - 1] !== 0x7d || data[next - 2] !== 0x7d) {
    _unexpectedText(ws, data, start, end);
  }
  if (seq !== ws.expected) {
    _fail(
      `subscriber #${ws.index} expected seq ${ws.expected} of ${ws.target}, got ${seq}` +
        " (a message was lost, duplicated or reordered)",
    );
  }
  if (++ws.expected === ws.target) {
    if (--_remaining === 0) _roundDone?.();
  } else if (ws.expected > ws.target) {
    _fail(`subscriber #${ws.index} got more than ${ws.target} messages`);
  }
  return next;
}

/**
 * One round: every subscriber expects `count` messages numbered from 0;
 * `trigger` makes them come.
 *
 * @returns The seconds from the trigger until the last subscriber had all.
 */
async function _roomRound(
  subscribers: _Ws[],
  count: number,
  trigger: () => Promise<void>,
): Promise<number> {
  for (const ws of subscribers) {
    ws.expected = 0;
    ws.target = count;
  }
  _remaining = subscribers.length;
  const done = new Promise<void>((resolve) => _roundDone = resolve);
  const t0 = performance.now();
  await trigger();
  await done;
  const seconds = (performance.now() - t0) / 1000;
  _roundDone = undefined;
  return seconds;
}

/**
 * What starts a round of `count` messages: in a fan-out, one control
 * message; in a relay, `count` frames written one by one, built before the
 * clock starts (the same frames every round, since `seq` restarts at 0).
 */
function _trigger(
  relay: boolean,
  publisher: _Ws,
  count: number,
  size: number,
): () => Promise<void> {
  if (!relay) {
    return () => publisher.send(JSON.stringify({ topic: "fanout", data: { count, size } }));
  }
  const pad = tickPad(size, "relay");
  const frames = Array.from(
    { length: count },
    (_, seq) =>
      maskFrame(_encoder.encode(JSON.stringify({ topic: "relay", data: { seq, pad } })), 1),
  );
  return () => {
    let last = Promise.resolve();
    for (const frame of frames) last = publisher.write(frame);
    return last;
  };
}

/** The fan-out and relay scenarios (see the module doc). */
async function _room(spec: ClientSpec): Promise<Record<string, unknown>> {
  const relay = spec.scenario === "relay";
  const name = spec.scenario;
  const clients = spec.clients ?? 1000;
  const count = spec.count ?? 1000;
  const size = spec.size ?? 64;
  const rounds = spec.rounds ?? 3;
  const warmup = spec.warmup ?? Math.ceil(count / 5);
  _topic = relay ? "relay" : "tick";
  _prefix = _encoder.encode(relay ? RELAY_PREFIX : TICK_PREFIX);
  _tickTail = JSON.stringify({ pad: tickPad(size, _topic) }).length - 1 + 2;
  _batchAllowed = spec.protocol !== undefined;
  _phase = `${name}: connecting`;
  // The relay's publisher is in the room (no `&pub=1`): the server must leave it out.
  const publisher = await _open(spec.port, relay ? "" : "&pub=1", 4096);
  const subscribers = await _openMany(
    spec.port,
    clients,
    spec.concurrency ?? 200,
    16384,
    undefined,
    spec.protocol,
  );
  for (const ws of subscribers) ws.onText = _onTick;
  _sampled = subscribers[0];
  await _waitMembers(spec.port, relay ? clients + 1 : clients);
  let warmed = 0;
  if (warmup > 0) {
    _phase = `${name}: warm-up round`;
    warmed += await _roomRound(subscribers, warmup, _trigger(relay, publisher, warmup, size));
  }
  const trigger = _trigger(relay, publisher, count, size);
  for (let round = 1; warmed < (spec.warmupSeconds ?? 0) && round <= 25; round++) {
    _phase = `${name}: warm-up round ${round + 1}`;
    warmed += await _roomRound(subscribers, count, trigger);
  }
  const rates: number[] = [];
  const cpu = new _CpuWindow(spec.serverPid ?? 0);
  const minSeconds = spec.minSeconds ?? 0;
  let measured = 0;
  let serverSegments = 0;
  const frames0 = { ..._frames };
  for (let round = 0; round < rounds || (measured < minSeconds && round < 25); round++) {
    _phase = `${name}: round ${round + 1}`;
    // Outside the window: `ss` takes a while with thousands of sockets.
    const segments0 = await _serverSegments(spec.port);
    cpu.start();
    const seconds = await _roomRound(subscribers, count, trigger);
    cpu.stop();
    serverSegments += await _serverSegments(spec.port) - segments0;
    measured += seconds;
    rates.push(Math.round((clients * count) / seconds));
  }
  const deliveries = clients * count * rates.length;
  const { segments, reads } = cpu.counts;
  const frames = _frames.frames - frames0.frames;
  const messages = _frames.messages - frames0.messages;
  if (messages !== deliveries) _fail(`counted ${messages} messages, expected ${deliveries}`);
  return {
    deliveriesPerSec: Math.round(_median(rates)),
    rounds: rates,
    deliveries,
    serverSegmentsPerDelivery: Number.isFinite(serverSegments)
      ? _round(serverSegments / deliveries, 3)
      : null,
    segmentsPerDelivery: _round(segments / deliveries, 3),
    readsPerDelivery: _round(reads / deliveries, 3),
    framesPerDelivery: _round(frames / deliveries, 4),
    ...(_batchAllowed
      ? {
        batchFrames: _frames.batchFrames - frames0.batchFrames,
        batchShare: _round((_frames.batched - frames0.batched) / deliveries, 4),
      }
      : {}),
    ...cpu.result,
  };
}

// ---------------------------------------------------------------- echo

function _onEcho(ws: _Ws, data: Uint8Array, start: number, end: number): void {
  const text = _decoder.decode(data.subarray(start, end));
  let seq: unknown;
  try {
    const envelope = JSON.parse(text);
    if (envelope.topic !== "echo") throw new Error("not an echo");
    seq = envelope.data.seq;
  } catch {
    _unexpectedText(ws, data, start, end);
  }
  const waiting = ws.waiting;
  if (waiting === undefined) _fail(`connection #${ws.index} got an echo nobody waited for`);
  ws.waiting = undefined;
  waiting(seq as number);
}

async function _roundTrips(ws: _Ws, n: number, pad: string, latencies?: number[]): Promise<void> {
  for (let seq = 0; seq < n; seq++) {
    const answered = new Promise<number>((resolve) => ws.waiting = resolve);
    const t0 = performance.now();
    ws.send(JSON.stringify({ topic: "echo", data: { seq, pad } }));
    const got = await answered;
    const t1 = performance.now();
    if (got !== seq) _fail(`connection #${ws.index} sent echo ${seq}, got echo ${got}`);
    latencies?.push((t1 - t0) * 1000);
  }
}

function _latencySummary(latencies: number[]): Record<string, number> {
  const sorted = latencies.sort((a, b) => a - b);
  return {
    p50Us: _round(_percentile(sorted, 0.5), 1),
    p99Us: _round(_percentile(sorted, 0.99), 1),
    samples: sorted.length,
  };
}

async function _echo(spec: ClientSpec): Promise<Record<string, unknown>> {
  const sequential = spec.sequential ?? 5000;
  const concurrent = spec.concurrent ?? 100;
  const perClient = spec.perClient ?? 100;
  const pad = "x".repeat(Math.max(0, (spec.size ?? 64) - 40));
  const cpu = new _CpuWindow(spec.serverPid ?? 0);

  _phase = "echo: sequential";
  const [one] = await _openMany(spec.port, 1, 1, 4096);
  one.onText = _onEcho;
  await _roundTrips(one, Math.ceil(sequential / 5), pad);
  const serial: number[] = [];
  cpu.start();
  await _roundTrips(one, sequential, pad, serial);
  cpu.stop();

  _phase = "echo: concurrent";
  const many = await _openMany(spec.port, concurrent, spec.concurrency ?? 200, 4096);
  for (const ws of many) ws.onText = _onEcho;
  await Promise.all(many.map((ws) => _roundTrips(ws, Math.ceil(perClient / 5), pad)));
  const parallel: number[] = [];
  cpu.start();
  const t0 = performance.now();
  await Promise.all(many.map((ws) => _roundTrips(ws, perClient, pad, parallel)));
  const seconds = (performance.now() - t0) / 1000;
  cpu.stop();
  return {
    sequential: _latencySummary(serial),
    concurrent: {
      ..._latencySummary(parallel),
      clients: concurrent,
      roundTripsPerSec: Math.round(parallel.length / seconds),
    },
    ...cpu.result,
  };
}

// ---------------------------------------------------------------- memory

async function _memory(spec: ClientSpec): Promise<Record<string, unknown>> {
  const sessions = spec.clients ?? 10_000;
  _phase = "memory: baseline";
  await _waitMembers(spec.port, 0);
  const before = await _settled(spec.port);
  _phase = "memory: connecting";
  await _openMany(spec.port, sessions, spec.concurrency ?? 200, 1024);
  await _waitMembers(spec.port, sessions, false);
  _phase = "memory: measuring";
  // As the sessions left it (no GC forced since the baseline): at once,
  // then after `idleSeconds` untouched; then after forced GCs, once the RSS
  // holds still.
  const atOnce = await _mem(spec.port, false);
  const idle = await _untouched(spec);
  const after = await _settled(spec.port);
  if (after.members !== sessions) _fail(`the room has ${after.members} members, not ${sessions}`);
  const perSession = (bytes: number) => Math.round(bytes / sessions);
  return {
    sessions,
    rssBefore: before.rss,
    rssAfter: after.rss,
    bytesPerSession: perSession(after.rss - before.rss),
    heapBytesPerSession: perSession(after.heap - before.heap),
    unforcedBytesPerSession: perSession(idle - before.rss),
    atOnceBytesPerSession: perSession(atOnce.rss - before.rss),
    atOnceHeapBytesPerSession: perSession(atOnce.heap - before.heap),
  };
}

/**
 * The server's RSS after `idleSeconds` (30 by default) in which nothing
 * asked it anything: a runtime whose collector runs when the heap stops
 * changing (Bun's does, on a timer) is not kept busy by the reading.
 * Polling `/mem` instead allocated in the server every 250 ms, and read
 * switchboard on Bun ~0.6 KB a session high (3.55 KB, where `/proc`
 * reads 2.92 KB after 30 s untouched), raw Bun not at all.
 */
async function _untouched(spec: ClientSpec): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, (spec.idleSeconds ?? 30) * 1000));
  const rss = spec.serverPid ? residentBytes(spec.serverPid) : NaN;
  return Number.isNaN(rss) ? (await _mem(spec.port, false)).rss : rss;
}

/**
 * Reads `/mem` (a forced GC each time) until the RSS holds still: four readings 250 ms apart within
 * 0.2% of each other, or 10 s. An allocator gives freed pages back to the
 * system a second or so after a GC (Bun's does: a reading at once after
 * 10,000 connects measured their garbage, ~0.4 KB a session for raw Bun
 * and for switchboard alike, or not, depending on the moment).
 */
async function _settled(port: number): Promise<MemReport> {
  let last = await _mem(port);
  const deadline = performance.now() + 10_000;
  for (let still = 0; still < 3 && performance.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const next = await _mem(port);
    still = Math.abs(next.rss - last.rss) <= last.rss * 0.002 ? still + 1 : 0;
    last = next;
  }
  return last;
}

// ---------------------------------------------------------------- connects

async function _connects(spec: ClientSpec): Promise<Record<string, unknown>> {
  const n = spec.clients ?? 5000;
  const concurrency = spec.concurrency ?? 200;
  _phase = "connects: wrong token";
  const refused = await _handshake(spec.port, "token=wrong");
  refused.conn.close();
  if (refused.status !== 401) _fail(`a wrong token got HTTP ${refused.status}, not 401`);
  _phase = "connects: connecting";
  const times: number[] = [];
  const cpu = new _CpuWindow(spec.serverPid ?? 0);
  cpu.start();
  const t0 = performance.now();
  await _openMany(spec.port, n, concurrency, 1024, times);
  const seconds = (performance.now() - t0) / 1000;
  cpu.stop();
  _phase = "connects: checking the room";
  await _waitMembers(spec.port, n);
  const sorted = times.sort((a, b) => a - b);
  return {
    connections: n,
    concurrency,
    connectsPerSec: Math.round(n / seconds),
    handshakeP50Ms: _round(_percentile(sorted, 0.5), 2),
    handshakeP99Ms: _round(_percentile(sorted, 0.99), 2),
    ...cpu.result,
  };
}

// ---------------------------------------------------------------- main

const _SCENARIOS: Record<ClientSpec["scenario"], (spec: ClientSpec) => Promise<object>> = {
  fanout: _room,
  relay: _room,
  echo: _echo,
  memory: _memory,
  connects: _connects,
};

async function _main(): Promise<void> {
  let spec: ClientSpec;
  try {
    spec = JSON.parse(Deno.args[0] ?? "");
  } catch {
    _fail("usage: load_client.ts '<json spec>' (see ClientSpec)");
  }
  const run = _SCENARIOS[spec.scenario];
  if (run === undefined || !Number.isInteger(spec.port)) {
    _fail("the spec needs a scenario and a port");
  }
  const timeoutMs = spec.timeoutMs ?? 60_000;
  setTimeout(() => _fail(`hard timeout after ${timeoutMs} ms`), timeoutMs);
  const result = await run(spec);
  _exiting = true;
  console.log(JSON.stringify({ ok: true, scenario: spec.scenario, ...result }));
  Deno.exit(0);
}

if (import.meta.main) await _main();
