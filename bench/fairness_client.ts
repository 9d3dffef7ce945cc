/**
 * The two clients of the fairness harness (`bench/fairness.ts` starts each
 * in a process of its own, both pinned to core 1: the attacker's writes and
 * reconnects never run in the victim's event loop, so only the server can
 * delay the victim's echoes, and the core they share is mostly idle).
 *
 * - `victim`: connects, prints `{"ready":true}`, and waits for `SIGUSR1`
 *   (the harness sends it once the attack is under way). Then, for
 *   `seconds`, it makes sequential echo round trips
 *   (`{"topic":"echo","data":{"seq":n}}`), one started every `intervalMs`
 *   (or as soon as the previous one is answered, if later), and times one
 *   fresh handshake on a second connection beside them. It prints one JSON
 *   line: the round-trip times in milliseconds, the echoes not answered
 *   within `replyTimeoutMs`, any `$error` envelope it got, the handshake's
 *   time, and the server's CPU over its window (from
 *   `/proc/<serverPid>/stat`). A close or the end of its connection fails
 *   the run.
 * - `attacker`: one connection at a time, writing one ready-made masked text
 *   frame holding a `size`-byte envelope about `perSecond` times a second
 *   (never more than one frame ahead of that pace, and never two writes at
 *   once). The envelope's data is one long string (`payload: "string"`,
 *   `{"topic":"x","data":"xx…"}`, cheap to decode) or an array of small
 *   objects (`payload: "objects"`, `{"topic":"x","data":[{"a":0},…]}`, some
 *   130,000 of them in 1 MiB, costly to decode). When the server closes the
 *   connection (1008 after too many rejections in a row) or a write fails,
 *   it reconnects at once, as a real attacker would; with `perConnection`
 *   it also closes and reconnects itself after that many frames. It prints
 *   `{"ready":true}` once its first connection is open, and its counts when
 *   it gets `SIGTERM` or after `maxSeconds`.
 *
 * Both exit when their stdin ends (the harness is gone), and at a hard
 * deadline. Everything is on 127.0.0.1.
 *
 * ```sh
 * deno run -A bench/fairness_client.ts '{"role":"victim","port":8080,"seconds":5}'
 * deno run -A bench/fairness_client.ts '{"role":"attacker","port":8080,"maxSeconds":60}'
 * ```
 *
 * @module
 */
import { connectRaw, FrameParser, maskFrame, writeAll } from "../tests/_raw_ws.ts";
import { cpuSeconds } from "./_process.ts";
import { TOKEN } from "./servers/_behaviour.ts";

/** What a client process does. */
export interface FairnessSpec {
  /** Which client. */
  role: "victim" | "attacker";
  /** The server's port on 127.0.0.1. */
  port: number;
  /** victim: the server's process id, to read its CPU time; 0 to skip. */
  serverPid?: number;
  /** victim: how long it starts new round trips, in seconds. @default {5} */
  seconds?: number;
  /** victim: milliseconds between the starts of two round trips. @default {10} */
  intervalMs?: number;
  /** victim: the longest wait for one echo, in milliseconds. @default {10000} */
  replyTimeoutMs?: number;
  /** attacker: the envelope's size in bytes (UTF-8). @default {1048576} */
  size?: number;
  /** attacker: what the envelope's data is. @default {"string"} */
  payload?: "string" | "objects";
  /** attacker: frames per connection before it reconnects itself. @default {Infinity} */
  perConnection?: number;
  /** attacker: frames a second. @default {100} */
  perSecond?: number;
  /** attacker: the longest it runs, in seconds. @default {120} */
  maxSeconds?: number;
}

/** What the victim prints. */
export interface VictimResult {
  readonly ok: true;
  /** Each answered round trip, in milliseconds, in order. */
  readonly rtts: number[];
  /** Echoes sent. */
  readonly sent: number;
  /** Echoes not answered within `replyTimeoutMs`. */
  readonly lost: number;
  /**
   * How long a second connection's handshake took, started with the window,
   * in milliseconds; `null` if it took longer than `replyTimeoutMs`.
   */
  readonly handshakeMs: number | null;
  /** `$error` envelopes received (the victim's own messages rejected). */
  readonly errors: number;
  /** The server's CPU over the window, in cores; `null` if unknown. */
  readonly serverCpu: number | null;
  /** The window, in seconds. */
  readonly wallSeconds: number;
}

/** What the attacker prints. */
export interface AttackerResult {
  readonly ok: true;
  /** From its first connection to the end, in seconds. */
  readonly seconds: number;
  /** Frames written whole. */
  readonly sent: number;
  /** Connections opened (the first, then each reconnect). */
  readonly connects: number;
  /** Handshakes that failed (refused, or the connection failed). */
  readonly connectFailures: number;
  /** Writes that failed on an open connection (the server closed it under the write). */
  readonly writeFailures: number;
  /** `$error` envelopes received (one per run of rejections). */
  readonly errors: number;
  /** Close frames received, by close code. */
  readonly closes: Record<string, number>;
}

/** What either prints when it fails. */
export interface FailedResult {
  readonly ok: false;
  readonly error: string;
}

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
/** No client makes more round trips or connections than this. */
const _MAX_COUNT = 1_000_000;

function _print(result: VictimResult | AttackerResult | FailedResult): void {
  console.log(JSON.stringify(result));
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Exits once stdin ends: the harness that holds it open is gone. */
function _exitWithStdin(): void {
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) {
        // nothing is ever written; wait for the end
      }
    } catch {
      // closed
    }
    Deno.exit(1);
  })();
}

/** What a connection's reader is told about. */
interface _Handlers {
  text(text: string): void;
  close(code: number): void;
}

/**
 * Reads frames from `conn` until it ends or fails: text frames and close
 * frames go to `handlers`, pings are answered through `pong`.
 */
async function _read(
  conn: Deno.TcpConn,
  leftover: Uint8Array,
  handlers: _Handlers,
  pong: (payload: Uint8Array) => void,
): Promise<void> {
  const parser = new FrameParser((opcode, _fin, _masked, data, start, stop) => {
    if (opcode === 1) {
      handlers.text(_decoder.decode(data.subarray(start, stop)));
    } else if (opcode === 8) {
      handlers.close(stop - start >= 2 ? (data[start] << 8) | data[start + 1] : 1005);
    } else if (opcode === 9) {
      pong(data.slice(start, stop));
    }
  });
  if (leftover.length > 0) parser.push(leftover);
  const buffer = new Uint8Array(64 * 1024);
  for (let reads = 0; reads < Number.MAX_SAFE_INTEGER; reads++) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch {
      return;
    }
    if (n === null) return;
    parser.push(buffer, n);
  }
}

/** Writes on one connection, one after the other; resolves `false` if the write failed. */
class _Writer {
  readonly #conn: Deno.TcpConn;
  #last: Promise<boolean> = Promise.resolve(true);

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  write(frame: Uint8Array): Promise<boolean> {
    this.#last = this.#last.then(() => writeAll(this.#conn, frame)).then(() => true, () => false);
    return this.#last;
  }
}

function _close(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function _url(port: number): string {
  return `ws://127.0.0.1:${port}/?token=${TOKEN}`;
}

/** The server's CPU seconds so far, or `NaN`. */
function _serverCpu(pid: number): number {
  if (pid <= 0) return NaN;
  const [user, system] = cpuSeconds(pid);
  return user + system;
}

// ---------------------------------------------------------------- victim

/**
 * Times a fresh handshake, closing its connection as soon as it is open;
 * `null` if it failed or took longer than `limitMs` (it is abandoned then).
 */
async function _probeHandshake(port: number, limitMs: number): Promise<number | null> {
  const t0 = performance.now();
  const signal = AbortSignal.timeout(limitMs);
  try {
    const { conn } = await connectRaw(_url(port), { noDelay: true, signal });
    _close(conn);
    return Math.round((performance.now() - t0) * 10) / 10;
  } catch {
    return null;
  }
}

/** Resolves on the first `SIGUSR1`. */
function _startSignal(): Promise<void> {
  return new Promise((resolve) => {
    const listener = () => {
      Deno.removeSignalListener("SIGUSR1", listener);
      resolve();
    };
    Deno.addSignalListener("SIGUSR1", listener);
  });
}

/**
 * The victim's run: connects, prints `{"ready":true}`, waits for `SIGUSR1`,
 * then measures. `progress.phase` says where it stands, for the hard
 * deadline's message.
 */
async function _victim(
  spec: FairnessSpec,
  progress: { phase: string },
): Promise<VictimResult | FailedResult> {
  const seconds = spec.seconds ?? 5;
  const interval = spec.intervalMs ?? 10;
  const replyTimeout = spec.replyTimeoutMs ?? 10_000;
  const started = _startSignal();
  const { conn, leftover } = await connectRaw(_url(spec.port), { noDelay: true });
  const writer = new _Writer(conn);
  let waiting: { seq: number; resolve: () => void } | undefined;
  let errors = 0;
  let ended: string | undefined;
  let wake: () => void = () => {};
  const reading = _read(conn, leftover, {
    text(text) {
      const envelope = JSON.parse(text);
      if (envelope.topic === "$error") {
        errors++;
      } else if (envelope.topic === "echo" && envelope.data?.seq === waiting?.seq) {
        waiting!.resolve();
      }
    },
    close(code) {
      ended = `the server closed the victim's connection with ${code}`;
      wake();
    },
  }, (payload) => writer.write(maskFrame(payload, 0xa)));
  reading.catch((error) => `${error}`).then((why) => {
    ended ??= `the victim's connection ended${why ? `: ${why}` : ""}`;
    wake();
  });
  console.log(JSON.stringify({ ready: true }));
  progress.phase = "waiting for SIGUSR1";
  await started;
  progress.phase = "measuring";
  const rtts: number[] = [];
  let lost = 0;
  let sent = 0;
  const cpu0 = _serverCpu(spec.serverPid ?? 0);
  const start = performance.now();
  const probe = _probeHandshake(spec.port, replyTimeout);
  for (let seq = 0; seq < _MAX_COUNT && ended === undefined; seq++) {
    const now = performance.now();
    if (now - start >= seconds * 1000) break;
    await _sleep(start + seq * interval - now);
    const answered = new Promise<boolean>((resolve) => {
      waiting = { seq, resolve: () => resolve(true) };
      wake = () => resolve(false);
    });
    const t0 = performance.now();
    writer.write(maskFrame(_encoder.encode(JSON.stringify({ topic: "echo", data: { seq } })), 1));
    sent++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ok = await Promise.race([
      answered,
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), replyTimeout)),
    ]);
    clearTimeout(timer);
    if (ok) rtts.push(Math.round((performance.now() - t0) * 1000) / 1000);
    else if (ended === undefined) lost++;
  }
  const wall = (performance.now() - start) / 1000;
  const cpu = _serverCpu(spec.serverPid ?? 0) - cpu0;
  progress.phase = "waiting for the handshake probe";
  const handshakeMs = await probe;
  _close(conn);
  if (ended !== undefined) return { ok: false, error: ended };
  return {
    ok: true,
    rtts,
    sent,
    lost,
    errors,
    handshakeMs,
    serverCpu: Number.isFinite(cpu) ? Math.round((cpu / wall) * 1000) / 1000 : null,
    wallSeconds: Math.round(wall * 1000) / 1000,
  };
}

// ---------------------------------------------------------------- attacker

/** The attacker's counts, printed at its end. */
class _Counts {
  readonly startedAt = performance.now();
  sent = 0;
  connects = 0;
  connectFailures = 0;
  writeFailures = 0;
  errors = 0;
  readonly closes: Record<string, number> = {};

  result(): AttackerResult {
    return {
      ok: true,
      seconds: Math.round(performance.now() - this.startedAt) / 1000,
      sent: this.sent,
      connects: this.connects,
      connectFailures: this.connectFailures,
      writeFailures: this.writeFailures,
      errors: this.errors,
      closes: this.closes,
    };
  }
}

/** The attack's one frame: a masked text frame of an envelope of `size` bytes at most. */
function _attackFrame(size: number, payload: "string" | "objects"): Uint8Array {
  let envelope;
  if (payload === "objects") {
    const bare = '{"topic":"x","data":[]}'.length, item = '{"a":0},'.length;
    const count = Math.max(1, Math.floor((size - bare + 1) / item));
    envelope = `{"topic":"x","data":[${'{"a":0},'.repeat(count - 1)}{"a":0}]}`;
  } else {
    const bare = JSON.stringify({ topic: "x", data: "" }).length;
    envelope = JSON.stringify({ topic: "x", data: "x".repeat(Math.max(0, size - bare)) });
  }
  return maskFrame(_encoder.encode(envelope), 1);
}

async function _attacker(spec: FairnessSpec): Promise<never> {
  const frame = _attackFrame(spec.size ?? 1 << 20, spec.payload ?? "string");
  const perConnection = spec.perConnection ?? Infinity;
  const period = 1000 / (spec.perSecond ?? 100);
  const counts = new _Counts();
  const finish = (): never => {
    _print(counts.result());
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", finish);
  const deadline = counts.startedAt + (spec.maxSeconds ?? 120) * 1000;
  setTimeout(finish, deadline - counts.startedAt);
  let next = performance.now();
  while (counts.connects + counts.connectFailures < _MAX_COUNT && performance.now() < deadline) {
    let upgrade;
    try {
      upgrade = await connectRaw(_url(spec.port), { noDelay: true });
    } catch {
      counts.connectFailures++;
      await _sleep(10);
      continue;
    }
    if (++counts.connects === 1) console.log(JSON.stringify({ ready: true }));
    const { conn, leftover } = upgrade;
    const writer = new _Writer(conn);
    let open = true;
    const reading = _read(conn, leftover, {
      text(text) {
        if (text.startsWith('{"topic":"$error"')) counts.errors++;
      },
      close(code) {
        counts.closes[code] = (counts.closes[code] ?? 0) + 1;
        open = false;
        _close(conn);
      },
    }, (payload) => writer.write(maskFrame(payload, 0xa)));
    reading.catch(() => {}).then(() => open = false);
    for (let sent = 0; sent < perConnection && open && performance.now() < deadline; sent++) {
      await _sleep(next - performance.now());
      if (!open) break;
      if (!await writer.write(frame)) {
        if (open) counts.writeFailures++;
        break;
      }
      counts.sent++;
      // The pace, without a burst to catch up after a slow write.
      next = Math.max(next + period, performance.now() - period);
    }
    open = false;
    _close(conn);
    await reading.catch(() => {});
  }
  return finish();
}

// ---------------------------------------------------------------- main

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0] ?? "{}") as FairnessSpec;
  _exitWithStdin();
  if (spec.role === "attacker") {
    await _attacker(spec);
  } else if (spec.role === "victim") {
    const hardMs = (spec.seconds ?? 5) * 1000 + (spec.replyTimeoutMs ?? 10_000) + 60_000;
    const progress = { phase: "connecting" };
    setTimeout(() => {
      _print({ ok: false, error: `the victim did not finish in ${hardMs} ms: ${progress.phase}` });
      Deno.exit(1);
    }, hardMs);
    let result: VictimResult | FailedResult;
    try {
      result = await _victim(spec, progress);
    } catch (error) {
      result = { ok: false, error: String(error) };
    }
    _print(result);
    Deno.exit(result.ok ? 0 : 1);
  } else {
    _print({ ok: false, error: `Unknown role "${spec.role}"` });
    Deno.exit(2);
  }
}
