/**
 * The envelope fuzz suite: {@linkcode MESSAGES} malformed (and a few
 * accidentally valid) text envelopes from a seeded generator, sent to the
 * `fuzz` app of the conformance fixture over a few connections, on Deno and
 * on Bun.
 *
 * Every message is answered in order on its connection: an invalid one
 * with an `$error` envelope carrying the code that `decodeEnvelope` gives
 * for it here, a valid one with the app's `unknown` reply carrying its
 * topic. The suite checks each answer 1:1 against what was sent, the
 * server's counters against the totals, that no hook threw, that the
 * server process's built-in prototypes are untouched, and that its memory
 * stayed flat from a baseline taken after a warm-up, both after a full GC:
 *
 * - The JS heap in use grew by less than {@linkcode HEAP_MARGIN}, and by
 *   less than {@linkcode LEAK_MARGIN} beyond what the app's own event log
 *   explains (it keeps one small `invalid` entry per malformed envelope;
 *   the fixture measures an entry's cost in its runtime).
 * - Memory outside the JS heap (RSS minus the heap's reserved size) grew by
 *   less than {@linkcode NATIVE_MARGIN}. Plain RSS is reported, not
 *   asserted: V8 enlarges its young generation under this allocation rate
 *   and keeps the pages (heapTotal +45-50 MB on Deno), which is not a leak.
 *
 * Set `SWITCHBOARD_FAULTS_PRINT=1` to print the figures.
 */
import assert from "node:assert/strict";
import { decodeEnvelope, EnvelopeError } from "../mod.ts";
import { Client, type Fixture, type Runtime, startFixture } from "./_harness.ts";
import type { Health } from "./fixtures/ctl_protocol.ts";
import type { TestEvent } from "./fixtures/app.ts";
import { seeded } from "./_fake_ws.ts";

/** Envelopes sent per runtime, warm-up included. */
const MESSAGES = 100_000;
/** Envelopes sent before the memory baseline is taken. */
const WARMUP = 5_000;
/** Connections the small envelopes are spread over. */
const CONNECTIONS = 4;
/** Envelopes a small-envelope connection may have unanswered at once: the rate bound. */
const WINDOW = 64;
/**
 * The share of envelopes that are big (nested 10,000 to 100,000 deep, or
 * near 1 MiB). They travel on a connection of their own, one at a time, so
 * that the memory they need at once is one envelope's, not a window's.
 */
const BIG_SHARE = 1 / 1000;
/** The generator's seed; each connection uses `SEED + its index`. */
const SEED = 0x5eed;
/** The most the JS heap in use may grow after GC, over the run (the app's event log included). */
const HEAP_MARGIN = 20 * 1024 * 1024;
/** The most the JS heap in use may grow beyond the app's event log. */
const LEAK_MARGIN = 4 * 1024 * 1024;
/** The most the memory outside the JS heap (RSS - heapTotal) may grow after GC. */
const NATIVE_MARGIN = 48 * 1024 * 1024;
/** The fuzz app's `maxMessageBytes` (the default): every envelope stays within it. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** How long a connection may wait for its next answer before the run fails. */
const STALL_MS = 15_000;

/** Topics the app acts on: a valid envelope never uses them. */
const COMMANDS = new Set([
  "echo",
  "size",
  "join",
  "leave",
  "rooms",
  "publish",
  "burst",
  "close",
  "throw",
]);

// ------------------------------------------------------------ the generator

const encoder = new TextEncoder();

type Rng = () => number;

const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, items: readonly T[]): T => items[int(r, items.length)];

const KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "polluted",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "a",
  "",
  // spelled with escapes: the same keys once parsed
  "\\u005f_proto__",
  "__pro\\u0074o__",
  "\\u005F\\u005Fproto\\u005F\\u005F",
  "constructo\\u0072",
  "proto\\u0074ype",
];

const TOPICS = [
  "fz",
  "chat",
  "",
  " ",
  "__proto__",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "$error",
  "unknown",
  "welcome",
  "a\\u0000b",
  "\\ud800",
  "\\udfff\\ud800",
  "\\u00e9\\u20ac\\ud83d\\ude00",
  "ECHO",
  "echo ",
  "toString",
];

const SCALARS = [
  "0",
  "-0",
  "1e400",
  "-1e-400",
  "123456789012345678901234567890",
  "true",
  "false",
  "null",
  '""',
  '"x"',
  "[]",
  "{}",
  '"\\u0000"',
  '"\\ud800"',
];

const NOT_JSON = [
  "",
  " ",
  "\n",
  "{",
  "}",
  "[",
  "undefined",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  "01",
  "1.",
  ".5",
  "+1",
  "'x'",
  "{topic:'x'}",
  "{'topic':'x'}",
  '{"topic":"x",}',
  '{"topic":"x" "data":1}',
  '{"topic":"x"}}',
  '{"topic":"x"}{"topic":"y"}',
  '\uFEFF{"topic":"x"}',
  '{"topic":"x"} // comment',
  '/* c */ {"topic":"x"}',
  '{"topic":"\\x41"}',
  '{"topic":"\\u12"}',
  '{"topic":"a\tb"}',
];

function topicValue(r: Rng): string {
  return `"${pick(r, TOPICS)}${r() < 0.5 ? int(r, 1000) : ""}"`;
}

function jsonValue(r: Rng, depth = 0): string {
  const x = r();
  if (depth > 3 || x < 0.45) return pick(r, SCALARS);
  if (x < 0.6) return `"${"s".repeat(int(r, 40))}"`;
  if (x < 0.8) {
    return `[${Array.from({ length: int(r, 4) }, () => jsonValue(r, depth + 1)).join(",")}]`;
  }
  const entries = Array.from(
    { length: int(r, 4) },
    () => `"${pick(r, KEYS)}":${jsonValue(r, depth + 1)}`,
  );
  return `{${entries.join(",")}}`;
}

/** An object path of forbidden-looking keys, `depth` deep, ending in `leaf`. */
function keyPath(r: Rng, depth: number, leaf: string): string {
  let text = leaf;
  for (let i = 0; i < depth; i++) text = `{"${pick(r, KEYS)}":${text}}`;
  return text;
}

function validEnvelope(r: Rng): string {
  return `{"topic":${topicValue(r)},"data":${jsonValue(r)}}`;
}

/** Makes one small envelope text (under 1 KiB); mostly malformed. */
function generateSmall(r: Rng): string {
  const x = int(r, 1000);
  if (x < 150) return validEnvelope(r);
  if (x < 300) {
    // a valid envelope, broken: cut, a byte dropped, a byte inserted
    const text = validEnvelope(r);
    const at = int(r, text.length);
    const y = r();
    if (y < 0.4) return text.slice(0, at);
    if (y < 0.7) return text.slice(0, at) + text.slice(at + 1);
    return text.slice(0, at) + pick(r, ["{", "}", '"', ",", ":", "\\", "\u0000", "x"]) +
      text.slice(at);
  }
  if (x < 380) return pick(r, NOT_JSON);
  if (x < 480) {
    // wrong types for topic and data, missing fields, extra fields
    const topic = pick(r, [...SCALARS, "1", '["x"]', '{"topic":"x"}']);
    const y = r();
    if (y < 0.3) return `{"topic":${topic},"data":${jsonValue(r)}}`;
    if (y < 0.5) return `{"data":${jsonValue(r)}}`;
    if (y < 0.7) return `{"Topic":"x","TOPIC":"y","topic ":"z"}`;
    return `{"topic":${topicValue(r)},"data":${jsonValue(r)},"${pick(r, KEYS)}":${jsonValue(r)}}`;
  }
  if (x < 540) {
    // not an object at all
    return pick(r, [
      pick(r, SCALARS),
      `[${validEnvelope(r)}]`,
      `[${validEnvelope(r)},${validEnvelope(r)}]`,
      `"${validEnvelope(r).replaceAll('"', '\\"')}"`,
    ]);
  }
  if (x < 660) {
    // prototype keys at depth, plain and escaped, in data or at the top
    const leaf = pick(r, ['{"polluted":true}', '{"toString":1}', "1", '"x"', "null"]);
    const path = keyPath(r, 1 + int(r, 6), leaf);
    const y = r();
    if (y < 0.5) return `{"topic":${topicValue(r)},"data":${path}}`;
    if (y < 0.7) return `{"topic":${topicValue(r)},"${pick(r, KEYS)}":${path}}`;
    if (y < 0.8) return `{"__proto__":{"topic":"fz"},"data":1}`;
    if (y < 0.9) return `{"topic":"fz","data":[[[${path}]]]}`;
    return `{"topic":"fz","data":{"constructor":{"prototype":{"polluted":true}}}}`;
  }
  if (x < 740) {
    // binary garbage, read as text (invalid UTF-8 turns into U+FFFD)
    const bytes = new Uint8Array(1 + int(r, 64)).map(() => int(r, 256));
    return new TextDecoder().decode(bytes);
  }
  if (x < 800) {
    // NUL bytes, raw and escaped
    return pick(r, [
      "\u0000",
      "\u0000".repeat(1 + int(r, 16)),
      `{"topic":"a\u0000b"}`,
      `{"topic":"fz","data":"\u0000"}`,
      `{"topic":"fz\\u0000","data":"\\u0000"}`,
      `\u0000{"topic":"fz"}`,
      `{"topic":"fz"}\u0000`,
    ]);
  }
  if (x < 860) {
    // lone surrogates: raw (the client sends U+FFFD) and escaped (they arrive)
    return pick(r, [
      `{"topic":"\ud800","data":1}`,
      `{"topic":"fz","data":"\udc00\ud800"}`,
      `{"topic":"\\ud800","data":"\\udfff"}`,
      `{"topic":"fz","data":{"\\ud800":1}}`,
      `\ud800`,
      `{"topic":"fz${"\ud83d"}"}`,
    ]);
  }
  // short prefixes of an envelope
  return `{"topic":${topicValue(r)},"data":${jsonValue(r)}}`.slice(0, int(r, 8));
}

/**
 * Makes one big envelope text: nested 10,000 to 100,000 levels deep, or a
 * string that brings it near the size limit (or exactly to it).
 */
function generateBig(r: Rng): string {
  if (r() < 0.5) return deep(pick(r, DEEP_SHAPES), 10_000 + int(r, 90_001));
  const gap = r() < 0.2 ? 0 : int(r, 4096);
  return huge(pick(r, HUGE_UNITS), r() < 0.5 ? '"fz"' : "7", gap);
}

const DEEP_SHAPES = ["array", "object", "proto-at-bottom", "unclosed", "bare-array"] as const;

function deep(shape: typeof DEEP_SHAPES[number], depth: number): string {
  switch (shape) {
    case "array":
      return `{"topic":"fz","data":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    case "object":
      return `{"topic":"fz","data":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
    case "proto-at-bottom":
      return `{"topic":"fz","data":${'{"a":'.repeat(depth)}{"__proto__":{"polluted":true}}${
        "}".repeat(depth)
      }}`;
    case "unclosed":
      return `{"topic":"fz","data":${"[".repeat(depth)}`;
    case "bare-array":
      return `${"[".repeat(depth)}${"]".repeat(depth)}`;
  }
}

const HUGE_UNITS = ["x", "\u00e9", "\u20ac", "\ud83d\ude00"];

/** An envelope of `maxMessageBytes - gap` bytes or a little less; `topic` is raw JSON. */
function huge(unit: string, topic: string, gap: number): string {
  const unitBytes = encoder.encode(unit).length;
  const head = `{"topic":${topic},"data":"`;
  const room = MAX_MESSAGE_BYTES - head.length - 2 - gap;
  return `${head}${unit.repeat(Math.floor(room / unitBytes))}"}`;
}

/**
 * Sent first, one at a time, before the memory baseline: the biggest of
 * each kind, so that the runtime's heap and allocator reach the size these
 * envelopes need before the baseline, and growth after it means a leak.
 */
const PRIMER: string[] = [
  ...DEEP_SHAPES.map((shape) => deep(shape, 100_000)),
  ...HUGE_UNITS.map((unit) => huge(unit, '"fz"', 0)),
  huge("x", "7", 0),
];

/** What the server must answer: an `$error` code, or `unknown` with the topic. */
type Expect = { code: string } | { topic: string };

/** What the server receives (the client sends lone surrogates as U+FFFD), decoded as the server does. */
function expectFor(text: string): Expect {
  try {
    return { topic: decodeEnvelope(text.toWellFormed()).topic };
  } catch (error) {
    if (error instanceof EnvelopeError) return { code: error.code };
    throw error;
  }
}

/** The next envelope this connection sends: within the size limit, never an app command. */
function next(r: Rng, big: boolean): { text: string; expect: Expect } {
  for (;;) {
    const text = big ? generateBig(r) : generateSmall(r);
    const expect = expectFor(text);
    if ("topic" in expect && COMMANDS.has(expect.topic)) continue;
    if (text.length * 3 > MAX_MESSAGE_BYTES && encoder.encode(text).length > MAX_MESSAGE_BYTES) {
      continue;
    }
    return { text, expect };
  }
}

// ------------------------------------------------------------ the client

/** One fuzzing connection: sends within a window, checks each answer in order. */
class FuzzConn {
  readonly user: string;
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  readonly #rng: Rng;
  readonly #big: boolean;
  readonly #window: number;
  readonly #expected: Expect[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  sent = 0;
  answered = 0;
  invalid = 0;
  valid = 0;
  bytes = 0;
  /** Envelopes sent, by the `$error` code expected (`"valid"` for none). */
  readonly kinds: Record<string, number> = {};
  /** The first answers that did not match, with what was sent. */
  readonly mismatches: string[] = [];
  #texts: string[] = [];
  #welcomed = false;

  constructor(url: string, user: string, seed: number, big: boolean) {
    this.user = user;
    this.#rng = seeded(seed);
    this.#big = big;
    this.#window = big ? 1 : WINDOW;
    const socket = this.socket = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`${user}: WebSocket error`));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", () => {
        resolve();
        this.#wake?.();
      });
    });
    socket.onmessage = (event) => this.#answer(event.data as string);
  }

  #answer(frame: string): void {
    const { topic, data } = JSON.parse(frame);
    if (!this.#welcomed && topic === "welcome") {
      this.#welcomed = true;
      return;
    }
    const index = this.#head;
    const expect = this.#expected[index];
    this.#expected[index] = undefined!; // answered: let it go
    this.#head++;
    const number = this.answered++;
    const ok = expect === undefined
      ? false
      : "code" in expect
      ? topic === "$error" && data?.code === expect.code
      : topic === "unknown" && data === expect.topic;
    if (!ok && this.mismatches.length < 5) {
      const text = this.#texts[index] ?? "(nothing sent)";
      this.mismatches.push(
        `answer ${number}: sent ${JSON.stringify(text.slice(0, 120))} expecting ${
          JSON.stringify(expect)
        }, got ${frame.slice(0, 200)}`,
      );
    }
    if (this.#head === this.#expected.length) {
      this.#expected.length = 0;
      this.#texts.length = 0;
      this.#head = 0;
    }
    this.#wake?.();
  }

  /**
   * Sends `count` generated envelopes (or the `texts` given), never more
   * than its window unanswered, and waits for every answer.
   */
  async run(count: number, texts?: readonly string[]): Promise<void> {
    for (let i = 0; i < (texts?.length ?? count); i++) {
      while (this.sent - this.answered >= this.#window) await this.#progress();
      const { text, expect } = texts === undefined
        ? next(this.#rng, this.#big)
        : { text: texts[i], expect: expectFor(texts[i]) };
      this.#expected.push(expect);
      this.#texts.push(text);
      if ("code" in expect) this.invalid++;
      else this.valid++;
      const kind = "code" in expect ? expect.code : "valid";
      this.kinds[kind] = (this.kinds[kind] ?? 0) + 1;
      this.bytes += text.length;
      this.sent++;
      this.socket.send(text);
    }
    while (this.answered < this.sent) await this.#progress();
  }

  /** Waits for the next answer; fails after {@linkcode STALL_MS} or on close. */
  async #progress(): Promise<void> {
    if (this.socket.readyState >= WebSocket.CLOSING) {
      throw new Error(`${this.user}: closed with ${this.sent - this.answered} unanswered`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = this.answered;
    try {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, STALL_MS);
      });
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
    if (this.answered === answered && this.socket.readyState === WebSocket.OPEN) {
      throw new Error(`${this.user}: no answer in ${STALL_MS} ms (${this.sent - answered} due)`);
    }
  }

  async close(): Promise<void> {
    if (this.socket.readyState <= WebSocket.OPEN) {
      await this.opened.catch(() => {});
      this.socket.close(1000);
    }
    await this.closed;
  }
}

// ------------------------------------------------------------ the run

interface Totals {
  sent: number;
  invalid: number;
  valid: number;
  bytes: number;
}

/** Sends `count` envelopes: the big share on the last connection, the rest spread over the others. */
async function round(conns: FuzzConn[], count: number): Promise<Totals> {
  const big = Math.round(count * BIG_SHARE);
  const small = conns.slice(0, -1);
  const base = Math.floor((count - big) / small.length);
  await Promise.all([
    ...small.map((conn, i) => conn.run(base + (i < (count - big) % small.length ? 1 : 0))),
    conns.at(-1)!.run(big),
  ]);
  for (const conn of conns) assert.deepEqual(conn.mismatches, [], `${conn.user}'s answers`);
  return {
    sent: conns.reduce((sum, c) => sum + c.sent, 0),
    invalid: conns.reduce((sum, c) => sum + c.invalid, 0),
    valid: conns.reduce((sum, c) => sum + c.valid, 0),
    bytes: conns.reduce((sum, c) => sum + c.bytes, 0),
  };
}

function assertClean(health: Health, when: string): void {
  assert.deepEqual(
    {
      enumerable: health.enumerable,
      forIn: health.forIn,
      added: health.added,
      changed: health.changed,
      chainIntact: health.chainIntact,
    },
    { enumerable: [], forIn: [], added: {}, changed: {}, chainIntact: true },
    `built-in prototypes are untouched ${when}`,
  );
}

const MiB = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function fuzz(fx: Fixture): Promise<void> {
  const started = performance.now();
  const initial = await fx.ctl<Health>("fuzz", "/ctl/health?gc=1&probe=50000");
  const bytesPerEvent = initial.bytesPerEvent!;
  assertClean(initial, "at start");
  assert.ok(initial.memory.gc, "the fixture can force a GC");

  const conns = Array.from(
    { length: CONNECTIONS + 1 },
    (_, i) =>
      new FuzzConn(fx.ws("fuzz", `user=fuzz-${i}`), `fuzz-${i}`, SEED + i, i === CONNECTIONS),
  );
  try {
    await Promise.all(conns.map((c) => c.opened));
    await Promise.all(
      conns.map((c) => fx.event("fuzz", { type: "connect", user: c.user })),
    );

    await conns.at(-1)!.run(0, PRIMER);
    await round(conns, WARMUP - PRIMER.length);
    const before = await fx.ctl<Health>("fuzz", "/ctl/health?gc=1");
    const fuzzStart = performance.now();
    const half = Math.floor((MESSAGES - WARMUP) / 2);
    await round(conns, half);
    const middle = await fx.ctl<Health>("fuzz", "/ctl/health?gc=1");
    const totals = await round(conns, MESSAGES - WARMUP - half);
    const fuzzMs = performance.now() - fuzzStart;
    const after = await fx.ctl<Health>("fuzz", "/ctl/health?gc=1");

    // Every message counted as received, every invalid one as invalid.
    assert.equal(totals.sent, MESSAGES);
    assert.equal(
      after.stats.messagesReceived - initial.stats.messagesReceived,
      MESSAGES,
      "messagesReceived counts every envelope",
    );
    assert.equal(
      after.stats.invalidMessages - initial.stats.invalidMessages,
      totals.invalid,
      "invalidMessages counts every invalid envelope",
    );
    assert.equal(after.stats.messagesDropped, initial.stats.messagesDropped, "no answer dropped");
    assert.equal(after.stats.sessions, CONNECTIONS + 1);

    assertClean(after, "after the fuzz");
    const heapGrowth = after.memory.heapUsed - before.memory.heapUsed;
    const logGrowth = (after.stats.invalidMessages - before.stats.invalidMessages) * bytesPerEvent;
    const native = (h: Health) => h.memory.rss - h.memory.heapTotal;
    const nativeGrowth = native(after) - native(before);
    if (Deno.env.get("SWITCHBOARD_FAULTS_PRINT")) {
      console.log(JSON.stringify({
        runtime: fx.runtime,
        messages: MESSAGES,
        kinds: conns.reduce((all, c) => {
          for (const [k, n] of Object.entries(c.kinds)) all[k] = (all[k] ?? 0) + n;
          return all;
        }, {} as Record<string, number>),
        mibSent: MiB(totals.bytes),
        fuzzSeconds: (fuzzMs / 1000).toFixed(1),
        perSecond: Math.round((MESSAGES - WARMUP) / (fuzzMs / 1000)),
        bytesPerEvent: Math.round(bytesPerEvent),
        heapUsed: [before, middle, after].map((h) => MiB(h.memory.heapUsed)),
        logGrowth: MiB(logGrowth),
        unexplained: MiB(heapGrowth - logGrowth),
        heapTotal: [before, middle, after].map((h) => MiB(h.memory.heapTotal)),
        rss: [initial, before, middle, after].map((h) => MiB(h.memory.rss)),
        native: [before, middle, after].map((h) => MiB(native(h))),
        totalSeconds: ((performance.now() - started) / 1000).toFixed(1),
      }));
    }
    assert.ok(
      heapGrowth < HEAP_MARGIN,
      `heap after GC grew ${MiB(heapGrowth)} MiB (margin ${MiB(HEAP_MARGIN)})`,
    );
    assert.ok(
      heapGrowth - logGrowth < LEAK_MARGIN,
      `heap after GC grew ${MiB(heapGrowth - logGrowth)} MiB beyond the event log's ${
        MiB(logGrowth)
      } MiB (margin ${MiB(LEAK_MARGIN)})`,
    );
    assert.ok(
      nativeGrowth < NATIVE_MARGIN,
      `memory outside the JS heap grew ${MiB(nativeGrowth)} MiB (margin ${MiB(NATIVE_MARGIN)})`,
    );
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
  for (const conn of conns) {
    const closed = await fx.event("fuzz", { type: "close", user: conn.user });
    assert.equal(closed.kind, "client");
  }

  // No hook threw, and the server still serves a newcomer.
  const state = await fx.ctl<{ events: TestEvent[] }>("fuzz", "/ctl/state");
  assert.deepEqual(state.events.filter((e) => e.type === "error"), [], "no hook threw");
  const fresh = await Client.connect(fx.ws("fuzz", "user=fresh"));
  fresh.send("echo", "still here");
  assert.equal(await fresh.take("echo"), "still here");
  await fresh.close();
}

for (const runtime of ["deno", "bun"] satisfies Runtime[]) {
  Deno.test(`${MESSAGES} malformed envelopes on ${runtime}: answered, counted, harmless`, async () => {
    const fx = await startFixture(runtime);
    try {
      await fuzz(fx);
    } finally {
      await fx.stop();
    }
  });
}
