/**
 * The descriptor-limit fault suite (issue 9): the server runs in a child
 * process under a hard limit of {@linkcode LIMIT} open files (`prlimit`,
 * else `ulimit -n`), and the test opens more WebSocket clients, then more
 * half-requests (one byte of a request each), than that allows. The server
 * must stay alive, keep the sessions it holds, and serve a new client once
 * the others left. Deno serves through `serve()` from `src/serve_deno.ts`,
 * with `--allow-all` (it reads the limit and caps sessions below it) and
 * with `--allow-net` only (it cannot); Bun through `Bun.serve` and the
 * adapter.
 *
 * `SWITCHBOARD_FDLIMIT_BARE=1` serves the Deno variants with bare
 * `Deno.serve` instead, the negative control: the suite then fails (see
 * FAULTS.md). Figures are printed with `console.log`.
 */
import assert from "node:assert/strict";
import { bunBinary } from "./_bun_binary.ts";
import { type Child, spawnChild, timeout } from "./_child.ts";
import { FrameParser, maskFrame, upgradeRaw, writeAll } from "./_raw_ws.ts";

/** The server's limit on open files, soft and hard. */
const LIMIT = 256;
/** How many WebSocket clients, then how many half-requests, the test opens: more than LIMIT. */
const FLOOD = LIMIT + 64;
/** The session cap `serve()` derives from LIMIT: LIMIT less max(64, LIMIT / 8). */
const CAP = LIMIT - 64;
/**
 * WebSocket clients connect this many at a time, as clients arriving at a
 * steady rate do: the refused ones close before the next come, so that the
 * 503s, not their connections, are what the cap shows.
 */
const BATCH = 16;
/** How long one connection attempt (connect, then the response head) may take. */
const ATTEMPT_MS = 1000;
/** How long the server may take to serve a new client once the others left. */
const RECOVER_MS = 10_000;
/** How long the server gets to exit after a flood, if it is going to. */
const EXIT_MS = 300;

const _FIXTURE = new URL("./fixtures/serve_fdlimit.ts", import.meta.url).pathname;
const _BARE = Deno.env.get("SWITCHBOARD_FDLIMIT_BARE") === "1";
const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

interface Variant {
  readonly name: string;
  /** `serve()` can read the limit, so it caps sessions at {@linkcode CAP}. */
  readonly capped: boolean;
  command(): Promise<string[]>;
}

const VARIANTS: readonly Variant[] = [
  {
    name: `Deno, ${_served()} with --allow-all (serve() caps sessions under the limit)`,
    capped: !_BARE,
    command: () => Promise.resolve([Deno.execPath(), "run", "-A", _FIXTURE, _denoMode()]),
  },
  {
    name: `Deno, ${_served()} with --allow-net (serve() cannot read the limit)`,
    capped: false,
    command: () => Promise.resolve([Deno.execPath(), "run", "--allow-net", _FIXTURE, _denoMode()]),
  },
  {
    name: "Bun, Bun.serve with the adapter",
    capped: false,
    command: async () => [await bunBinary(), _FIXTURE],
  },
];

/** What the fixture's `GET /state` answers. */
interface State {
  stats: { sessions: number; rejected: number };
  restarts?: number;
  errors: number;
  lastErrors: string[];
}

/** A WebSocket client held open: the connection and the bytes after the response head. */
interface Held {
  readonly conn: Deno.TcpConn;
  readonly leftover: Uint8Array;
}

Deno.test(`a server under a limit of ${LIMIT} descriptors survives ${FLOOD} half-requests, then ${FLOOD} clients and ${FLOOD} half-requests more, and serves again each time`, async (t) => {
  const limit = await _limitCommand();
  for (const variant of VARIANTS) {
    await t.step(variant.name, async () => {
      const child = spawnChild([...limit, ...await variant.command()]);
      const conns: Deno.Conn[] = [];
      try {
        const first = await timeout(child.first, 30_000, undefined);
        if (typeof first !== "string") throw new Error(`The fixture did not start: ${first}`);
        const port: number = JSON.parse(first).port;

        // 1. More half-requests than the limit allows, all at once; they leave.
        const alone = await _halfRequests(port);
        conns.push(...alone);
        await _assertAlive(child, "the half-request flood");
        const back = await _releaseAndRecover(conns, port);
        const restartsAlone = (await _state(port)).restarts;
        console.log(
          `${variant.name}: ${alone.length} of ${FLOOD} half-requests connected; ` +
            `served again ${back.ms} ms after the release (${back.attempts} attempts); ` +
            `listener restarts: ${restartsAlone ?? "n/a"}`,
        );
        if (restartsAlone !== undefined) {
          assert.ok(restartsAlone >= 1, "the half-requests never made the accept loop fail");
        }

        // 2. More WebSocket clients than the limit allows, BATCH at a time.
        const clients: (Held | number | "failed")[] = [];
        while (clients.length < FLOOD) {
          const size = Math.min(BATCH, FLOOD - clients.length);
          clients.push(...await Promise.all(Array.from({ length: size }, () => _tryUpgrade(port))));
        }
        const held = clients.filter((c): c is Held => typeof c === "object");
        conns.push(...held.map((h) => h.conn));
        const refused = clients.filter((c) => c === 503).length;
        const failed = clients.filter((c) => c === "failed").length;
        await _assertAlive(child, "the WebSocket flood");
        assert.ok(held.length > 0, "no client was upgraded");
        if (variant.capped) {
          assert.equal(held.length, CAP, "sessions held under the cap");
          assert.equal(refused, FLOOD - CAP, "upgrades refused with 503");
        } else {
          assert.ok(held.length < FLOOD, "every client was upgraded: the limit did not bind");
        }

        // 3. Half-requests on top of the sessions; the sessions live on, then all leave.
        const onTop = await _halfRequests(port);
        conns.push(...onTop);
        await _assertAlive(child, "the half-request flood on top of the sessions");
        assert.ok(await _echo(held[0], "still here"), "a session held through the floods echoes");
        const second = await _releaseAndRecover(conns, port);
        const state = await _state(port);
        console.log(
          `${variant.name}: ${held.length} sessions held, ${refused} refused with 503, ` +
            `${failed} not answered; then ${onTop.length} of ${FLOOD} half-requests connected; ` +
            `served again ${second.ms} ms after the release (${second.attempts} attempts); ` +
            `listener restarts: ${state.restarts ?? "n/a"}, onError calls: ${state.errors}`,
        );
        if (variant.capped) {
          assert.equal(state.stats.rejected, FLOOD - CAP, "refusals counted by the server");
          assert.ok(state.lastErrors.some((e) => e.includes(`at most ${CAP} sessions`)));
        }
      } finally {
        for (const conn of conns) _close(conn);
        await child.stop(2000);
      }
    });
  }
});

/** How the Deno variants are served, for their names. */
function _served(): string {
  return _BARE ? "bare Deno.serve" : "serve()";
}

/** The fixture's mode for Deno. */
function _denoMode(): string {
  return _BARE ? "bare" : "serve";
}

/** The command prefix that runs a program under the limit: `prlimit` (util-linux), else `ulimit -n` in bash. */
async function _limitCommand(): Promise<string[]> {
  try {
    const { success } = await new Deno.Command("prlimit", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (success) return ["prlimit", `--nofile=${LIMIT}:${LIMIT}`, "--"];
  } catch {
    // not installed
  }
  return ["bash", "-c", `ulimit -n ${LIMIT} && exec "$@"`, "bash"];
}

/** Fails if the child exits within {@linkcode EXIT_MS}: a crash shows by then. */
async function _assertAlive(child: Child, after: string): Promise<void> {
  const status = await timeout(child.process.status, EXIT_MS, undefined);
  if (status !== undefined) {
    assert.fail(`The server exited with code ${status.code} during ${after}`);
  }
}

/**
 * One upgrade attempt, bounded by {@linkcode ATTEMPT_MS}: the held client
 * on a 101, the status otherwise (the connection closed), or `"failed"` if
 * it was refused, reset, or never answered.
 */
async function _tryUpgrade(port: number): Promise<Held | number | "failed"> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ATTEMPT_MS);
  try {
    const { conn, status, leftover } = await upgradeRaw(`ws://127.0.0.1:${port}/`, {
      signal: controller.signal,
    });
    if (status === 101) return { conn, leftover };
    _close(conn);
    return status;
  } catch {
    return "failed";
  } finally {
    clearTimeout(timer);
  }
}

/** {@linkcode FLOOD} half-requests at once: those that connected. */
async function _halfRequests(port: number): Promise<Deno.TcpConn[]> {
  const halves = await Promise.all(Array.from({ length: FLOOD }, () => _halfRequest(port)));
  return halves.filter((h): h is Deno.TcpConn => h !== undefined);
}

/** Closes every connection in `conns` (emptying it), then waits for a new client to be served. */
async function _releaseAndRecover(
  conns: Deno.Conn[],
  port: number,
): Promise<{ ms: number; attempts: number }> {
  for (const conn of conns.splice(0)) _close(conn);
  const released = Date.now();
  const attempts = await _recover(port);
  return { ms: Date.now() - released, attempts };
}

/** Connects and sends the first byte of a request; `undefined` if that failed in {@linkcode ATTEMPT_MS}. */
async function _halfRequest(port: number): Promise<Deno.TcpConn | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ATTEMPT_MS);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port, signal: controller.signal });
    await conn.write(_encoder.encode("G"));
    return conn;
  } catch {
    if (conn !== undefined) _close(conn);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `{ topic: "echo", data }` and reads until it comes back, for at
 * most {@linkcode ATTEMPT_MS}; the connection is closed on a timeout.
 *
 * @returns Whether the echo came back.
 */
async function _echo(client: Held, data: string): Promise<boolean> {
  const { conn, leftover } = client;
  let echoed = false;
  const parser = new FrameParser((opcode, _fin, _masked, bytes, start, stop) => {
    if (opcode === 0x1 && _decoder.decode(bytes.subarray(start, stop)).includes(data)) {
      echoed = true;
    }
  });
  parser.push(leftover);
  const timer = setTimeout(() => _close(conn), ATTEMPT_MS);
  try {
    await writeAll(conn, maskFrame(_encoder.encode(JSON.stringify({ topic: "echo", data })), 0x1));
    const buffer = new Uint8Array(4096);
    while (!echoed) {
      const n = await conn.read(buffer);
      if (n === null) return false;
      parser.push(buffer, n);
    }
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects new clients until one gets its echo: at most 100 attempts in
 * {@linkcode RECOVER_MS}. Between two attempts it pauses 100 ms, for the
 * listener may be between two binds (`serve()` waits up to 2 s), and no
 * event crosses the process boundary to say when it is back.
 *
 * @returns How many attempts it took.
 */
async function _recover(port: number): Promise<number> {
  const deadline = Date.now() + RECOVER_MS;
  for (let attempt = 1; attempt <= 100 && Date.now() < deadline; attempt++) {
    const client = await _tryUpgrade(port);
    if (typeof client === "object") {
      const echoed = await _echo(client, `probe ${attempt}`);
      _close(client.conn);
      if (echoed) return attempt;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`No new client was served within ${RECOVER_MS} ms of the release`);
}

/** The fixture's counters, read within {@linkcode ATTEMPT_MS}. */
async function _state(port: number): Promise<State> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ATTEMPT_MS);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/state`, { signal: controller.signal });
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a connection that may be closed already. */
function _close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}
