/**
 * The protocol fault suite: WebSocket frames no conforming client sends,
 * written by hand over raw TCP to the `protocol` app of the conformance
 * fixture, on Deno and on Bun.
 *
 * For every case: the connection ends (a close frame with a code, or the
 * TCP connection closing without one), no hook throws, the session is
 * released and has left every room, and the server still serves a fresh
 * client. What each runtime sends on the wire, and what `onClose` gets,
 * is pinned in {@linkcode EXPECTED}; the table is copied to FAULTS.md.
 *
 * Set `SWITCHBOARD_FAULTS_PRINT=1` to print what was observed.
 */
import assert from "node:assert/strict";
import { Client, type Fixture, type Runtime, startFixture, Wakeup } from "./_harness.ts";
import { connectRaw, FrameParser, writeAll } from "./_raw_ws.ts";
import type { TestEvent } from "./fixtures/app.ts";

/**
 * What the client saw: the close frame's code, `"empty"` for a close frame
 * without a code, `"eof"` if the TCP connection ended without a close
 * frame, `"open"` if nothing happened within {@linkcode QUIET_MS} (the test
 * then drops the connection), or `"dropped"` where the case itself drops it.
 * A ping flood records the pongs it got.
 */
type Wire = number | "empty" | "eof" | "open" | "dropped" | `${number} pongs, then ${number}`;

/**
 * What each runtime does: on the wire, the `onClose` cause as `"kind code"`,
 * and the messages the app answered with after the fault (the topic, with
 * the code of an `$error`): a frame the runtime should have refused but
 * delivered shows up here.
 */
interface Observed {
  wire: Wire;
  server: string;
  replies: string[];
}

/** How long a connection may stay silent before the case counts it as left open. */
const QUIET_MS = 2000;
/** Pings in the ping flood. */
const PINGS = 5000;
/** The `protocol` app's `maxMessageBytes` (the default). */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * What each case is expected to produce, per runtime. A change in either
 * runtime's behaviour (or in switchboard's handling of it) fails the case.
 */
const EXPECTED: Record<string, Record<Runtime, Observed>> = {
  "a well-formed close 1000 is echoed (control)": both(o(1000, "client 1000")),
  "a well-formed close 4999 is echoed (control)": both(o(4999, "client 4999")),
  "an unmasked text frame": {
    deno: o("open", "error 1006", ["$error json"]),
    bun: o(1002, "error 1006"),
  },
  "a text frame with RSV1 set": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "a text frame with RSV2 set": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "a text frame with RSV3 set": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0x3": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0x4": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0x5": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0x6": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0x7": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0xB": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0xC": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0xD": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0xE": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "reserved opcode 0xF": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "a continuation frame without a start": {
    deno: o("eof", "error 1006"),
    bun: o(1002, "error 1006"),
  },
  "a ping with a 126-byte payload": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "a close with a 124-byte reason (126-byte payload)": {
    deno: o(1000, "client 1000"),
    bun: o(1002, "error 1006"),
  },
  "a fragmented ping (FIN=0)": { deno: o("eof", "error 1006"), bun: o(1002, "error 1006") },
  "invalid UTF-8 in a text frame (C3 28)": {
    deno: o("eof", "error 1006"),
    bun: o(1007, "error 1006"),
  },
  "invalid UTF-8 in a text frame (UTF-8-encoded surrogate ED A0 80)": {
    deno: o("eof", "error 1006"),
    bun: o(1007, "error 1006"),
  },
  "invalid UTF-8 split across two fragments": {
    deno: o("eof", "error 1006"),
    bun: o(1007, "error 1006"),
  },
  "invalid UTF-8 in a close reason": { deno: o("eof", "error 1006"), bun: o(1007, "error 1006") },
  "a close with code 0": both(o(1002, "error 1006")),
  "a close with code 999": both(o(1002, "error 1006")),
  "a close with code 1004": both(o(1002, "error 1006")),
  "a close with code 1005": both(o(1002, "error 1006")),
  "a close with code 1006": both(o(1002, "error 1006")),
  "a close with code 1015": both(o(1002, "error 1006")),
  "a close with code 2999": both(o(1002, "error 1006")),
  "a close with code 5000": both(o(1002, "error 1006")),
  "a close frame with a 1-byte payload": {
    deno: o("eof", "error 1006"),
    bun: o(1002, "error 1006"),
  },
  "a 64-bit length with the top bit set (2^63)": {
    deno: o("eof", "error 1006"),
    bun: o(1009, "too-large 1009"),
  },
  "a length over maxMessageBytes announced and never sent": {
    deno: o("open", "error 1006"),
    bun: o(1009, "too-large 1009"),
  },
  "a length over 64 MiB (Deno's own cap) announced and never sent": {
    deno: o("eof", "error 1006"),
    bun: o(1009, "too-large 1009"),
  },
  "a text frame over maxMessageBytes sent whole": both(o(1009, "too-large 1009")),
  "text fragments that together exceed maxMessageBytes": both(o(1009, "too-large 1009")),
  "a data frame interleaved in a fragmented message": {
    deno: o("eof", "error 1006"),
    bun: o(1002, "error 1006"),
  },
  "a flood of 5000 pings": both(o("5000 pongs, then 1000", "client 1000")),
  "the connection dropped mid-frame": both(o("dropped", "error 1006")),
};

function o(wire: Wire, server: string, replies: string[] = []): Observed {
  return { wire, server, replies };
}

function both(observed: Observed): Record<Runtime, Observed> {
  return { deno: observed, bun: observed };
}

type Send = (client: RawClient) => Promise<void>;

/** The cases, in order: a name and the bytes that follow a good handshake. */
const CASES: [string, Send][] = [];

function fault(name: string, send: Send): void {
  CASES.push([name, send]);
}

const enc = new TextEncoder();

fault("a well-formed close 1000 is echoed (control)", (c) => c.write(closeFrame(1000, "bye")));
fault("a well-formed close 4999 is echoed (control)", (c) => c.write(closeFrame(4999)));
fault("an unmasked text frame", (c) => c.write(frame(0x1, enc.encode("hi"), { mask: false })));
for (const rsv of [1, 2, 3]) {
  fault(
    `a text frame with RSV${rsv} set`,
    (c) => c.write(frame(0x1, enc.encode("hi"), { rsv: 1 << (3 - rsv) })),
  );
}
for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
  fault(
    `reserved opcode 0x${opcode.toString(16).toUpperCase()}`,
    (c) => c.write(frame(opcode, enc.encode("x"))),
  );
}
fault("a continuation frame without a start", (c) => c.write(frame(0x0, enc.encode("x"))));
fault("a ping with a 126-byte payload", (c) => c.write(frame(0x9, new Uint8Array(126))));
fault(
  "a close with a 124-byte reason (126-byte payload)",
  (c) => c.write(closeFrame(1000, "r".repeat(124))),
);
fault("a fragmented ping (FIN=0)", (c) => c.write(frame(0x9, enc.encode("x"), { fin: false })));
fault(
  "invalid UTF-8 in a text frame (C3 28)",
  (c) => c.write(frame(0x1, new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]))),
);
fault(
  "invalid UTF-8 in a text frame (UTF-8-encoded surrogate ED A0 80)",
  (c) => c.write(frame(0x1, new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]))),
);
fault("invalid UTF-8 split across two fragments", (c) =>
  c.write(
    frame(0x1, new Uint8Array([0x22, 0xe2, 0x82]), { fin: false }),
    frame(0x0, new Uint8Array([0x28, 0x22])),
  ));
fault(
  "invalid UTF-8 in a close reason",
  (c) => c.write(frame(0x8, new Uint8Array([0x03, 0xe8, 0xff, 0xfe, 0xfd]))),
);
for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) {
  fault(`a close with code ${code}`, (c) => c.write(closeFrame(code)));
}
fault("a close frame with a 1-byte payload", (c) => c.write(frame(0x8, new Uint8Array([0x03]))));
fault(
  "a 64-bit length with the top bit set (2^63)",
  (c) => c.write(header(0x2, 2n ** 63n), new Uint8Array(16)),
);
fault(
  "a length over maxMessageBytes announced and never sent",
  (c) => c.write(header(0x1, BigInt(MAX_MESSAGE_BYTES + 1))),
);
fault(
  "a length over 64 MiB (Deno's own cap) announced and never sent",
  (c) => c.write(header(0x1, 64n * 1024n * 1024n + 1n)),
);
fault(
  "a text frame over maxMessageBytes sent whole",
  (c) => c.write(frame(0x1, new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x61))),
);
fault("text fragments that together exceed maxMessageBytes", async (c) => {
  const part = new Uint8Array(400 * 1024).fill(0x61);
  await c.write(frame(0x1, part, { fin: false }));
  await c.write(frame(0x0, part, { fin: false }));
  await c.write(frame(0x0, part));
});
fault(
  "a data frame interleaved in a fragmented message",
  (c) => c.write(frame(0x1, enc.encode('{"to'), { fin: false }), frame(0x1, enc.encode("x"))),
);
fault(`a flood of ${PINGS} pings`, async (c) => {
  const pings: Uint8Array[] = [];
  for (let i = 0; i < PINGS; i++) pings.push(frame(0x9, enc.encode(`p${i}`)));
  await c.write(...pings);
  await c.until(() => c.pongs === PINGS || c.ended, 10_000);
  await c.write(closeFrame(1000));
});
fault("the connection dropped mid-frame", async (c) => {
  await c.write(header(0x1, 100n), new Uint8Array(10));
  c.drop();
});

// ---------------------------------------------------------------- frames

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

/** A frame header announcing `length` payload bytes, masked, FIN set. */
function header(opcode: number, length: bigint): Uint8Array {
  const bytes = new Uint8Array(14);
  bytes[0] = 0x80 | opcode;
  bytes[1] = 0x80 | 127;
  new DataView(bytes.buffer).setBigUint64(2, length);
  bytes.set(MASK, 10);
  return bytes;
}

/** A whole frame, masked unless told otherwise. */
function frame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, rsv = 0, mask = true }: { fin?: boolean; rsv?: number; mask?: boolean } = {},
): Uint8Array {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + lengthBytes + (mask ? 4 : 0) + n);
  out[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const view = new DataView(out.buffer);
  if (lengthBytes === 0) out[1] = n;
  else if (lengthBytes === 2) {
    out[1] = 126;
    view.setUint16(2, n);
  } else {
    out[1] = 127;
    view.setBigUint64(2, BigInt(n));
  }
  let at = 2 + lengthBytes;
  if (mask) {
    out[1] |= 0x80;
    out.set(MASK, at);
    at += 4;
    for (let i = 0; i < n; i++) out[at + i] = payload[i] ^ MASK[i & 3];
  } else {
    out.set(payload, at);
  }
  return out;
}

function closeFrame(code: number, reason = ""): Uint8Array {
  const text = enc.encode(reason);
  const payload = new Uint8Array(2 + text.length);
  new DataView(payload.buffer).setUint16(0, code);
  payload.set(text, 2);
  return frame(0x8, payload);
}

/**
 * A WebSocket client over raw TCP: it does the handshake by hand, writes
 * whatever bytes it is given, and parses what the server sends.
 */
class RawClient {
  readonly #conn: Deno.TcpConn;
  #pump: Promise<void> | undefined;
  readonly #parser = new FrameParser((opcode, fin, masked, data, start, stop) => {
    if (masked) throw new Error("The server sent a masked frame");
    this.#frame(opcode, fin, data.subarray(start, stop));
  });
  #fragments: Uint8Array[] = [];
  readonly #wakeup = new Wakeup();
  /** Text messages received. */
  readonly texts: string[] = [];
  pongs = 0;
  /** The server's close frame: its code (`null` if none) and reason. */
  close: { code: number | null; reason: string } | undefined;
  /** `true` once the TCP connection ended (FIN, reset, or dropped here). */
  ended = false;
  /** `true` if this side dropped the connection. */
  dropped = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects and upgrades; the rest of the bytes are parsed as frames. */
  static async connect(url: string): Promise<RawClient> {
    const { conn, leftover } = await connectRaw(url);
    const client = new RawClient(conn);
    client.#feed(leftover);
    client.#pump = client.#read();
    return client;
  }

  async #read(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.#feed(chunk.subarray(0, n));
      }
    } catch {
      // reset by the peer, or closed here: either way, ended
    }
    this.ended = true;
    this.#wakeup.wake();
  }

  #feed(bytes: Uint8Array): void {
    this.#parser.push(bytes);
    this.#wakeup.wake();
  }

  #frame(opcode: number, fin: boolean, payload: Uint8Array): void {
    switch (opcode) {
      case 0x0:
      case 0x1:
        this.#fragments.push(payload.slice());
        if (fin) {
          this.texts.push(new TextDecoder().decode(_concat(...this.#fragments)));
          this.#fragments = [];
        }
        break;
      case 0x8:
        this.close = payload.length >= 2
          ? {
            code: (payload[0] << 8) | payload[1],
            reason: new TextDecoder().decode(payload.subarray(2)),
          }
          : { code: null, reason: "" };
        break;
      case 0xa:
        this.pongs++;
        break;
    }
  }

  /** Waits until `done()` holds, the connection ends, or `ms` pass; returns `done()`. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done() && !this.ended && Date.now() < deadline) await this.#wakeup.sleep(deadline);
    return done();
  }

  /** Waits for the next text message whose topic is `topic`. */
  async take(topic: string): Promise<unknown> {
    let found: unknown;
    const seen = () =>
      this.texts.some((text) => {
        const envelope = JSON.parse(text);
        if (envelope.topic !== topic) return false;
        found = envelope.data;
        return true;
      });
    if (!(await this.until(seen, 10_000))) throw new Error(`No "${topic}" message`);
    return found;
  }

  /** Writes bytes; `false` if the connection was already gone. */
  async write(...frames: Uint8Array[]): Promise<void> {
    try {
      await writeAll(this.#conn, _concat(...frames));
    } catch {
      // the server closed first; what it sent says why
    }
  }

  /** Closes the TCP connection without a close frame. */
  drop(): void {
    this.dropped ||= !this.ended;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  /** Drops the connection (if still open) and waits for the reader to stop. */
  async dispose(): Promise<void> {
    this.drop();
    await this.#pump;
  }
}

function _concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// ---------------------------------------------------------------- the run

interface State {
  sessions: { user: string; rooms: string[] }[];
  rooms: Record<string, string[]>;
  events: TestEvent[];
}

async function runCase(fx: Fixture, index: number, send: Send): Promise<Observed> {
  const user = `raw-${index}`;
  const client = await RawClient.connect(fx.ws("protocol", `user=${user}&room=own-${index}`));
  let wire: Wire;
  let replies: string[];
  try {
    await client.take("welcome");
    await client.write(frame(0x1, enc.encode('{"topic":"join","data":"shared"}')));
    assert.deepEqual(await client.take("joined"), { room: "shared", joined: true });
    const joined = await fx.ctl<State>("protocol", "/ctl/state");
    assert.deepEqual(
      joined.sessions.find((s) => s.user === user)?.rooms.sort(),
      [`own-${index}`, "shared"],
    );

    const before = client.texts.length;
    await send(client);
    await client.until(() => client.close !== undefined, QUIET_MS);
    const close = client.close;
    if (client.dropped) {
      wire = "dropped";
    } else if (close !== undefined) {
      // Answer as a client must, then wait for the server to end the TCP connection.
      if (close.code !== null && _isSendable(close.code)) {
        await client.write(closeFrame(close.code));
      } else await client.write(frame(0x8, new Uint8Array(0)));
      await client.until(() => false, QUIET_MS);
      assert.ok(client.ended, "the server ended the TCP connection after its close frame");
      const code = close.code ?? "empty";
      wire = client.pongs > 0 ? `${client.pongs} pongs, then ${code}` as Wire : code;
    } else if (client.ended) {
      wire = "eof";
    } else {
      wire = "open";
    }
    replies = client.texts.slice(before).map((text) => {
      const { topic, data } = JSON.parse(text);
      return topic === "$error" ? `$error ${data.code}` : topic;
    });
  } finally {
    await client.dispose();
  }

  const closed = await fx.event("protocol", { type: "close", user });
  const state = await fx.ctl<State>("protocol", "/ctl/state");
  assert.equal(state.sessions.find((s) => s.user === user), undefined, "the session is released");
  for (const [room, members] of Object.entries(state.rooms)) {
    assert.ok(!members.includes(user), `the session left room "${room}"`);
  }
  assert.deepEqual(
    state.events.filter((e) => e.user === user && e.type === "error"),
    [],
    "no hook threw",
  );

  const fresh = await Client.connect(fx.ws("protocol", `user=fresh-${index}`));
  fresh.send("echo", index);
  assert.equal(await fresh.take("echo"), index);
  await fresh.close();
  await fx.event("protocol", { type: "close", user: `fresh-${index}` });

  reasons.set(user, closed.reason ?? "");
  return { wire, server: `${closed.kind} ${closed.code}`, replies };
}

function _isSendable(code: number): boolean {
  return code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/** The close reason `onClose` got, by user: printed, not asserted (it is the runtime's text). */
const reasons = new Map<string, string>();
const observed: Record<string, Partial<Record<Runtime, Observed & { reason?: string }>>> = {};

for (const runtime of ["deno", "bun"] satisfies Runtime[]) {
  Deno.test(`protocol faults on ${runtime}`, async (t) => {
    const fx = await startFixture(runtime);
    try {
      for (const [index, [name, send]] of CASES.entries()) {
        await t.step(name, async () => {
          const seen = await runCase(fx, index, send);
          (observed[name] ??= {})[runtime] = { ...seen, reason: reasons.get(`raw-${index}`) };
          const expected = EXPECTED[name]?.[runtime];
          assert.deepEqual(seen, expected, `${name} on ${runtime}`);
        });
      }
    } finally {
      await fx.stop();
      if (Deno.env.get("SWITCHBOARD_FAULTS_PRINT")) {
        console.log(JSON.stringify(observed, null, 1));
      }
    }
  });
}
