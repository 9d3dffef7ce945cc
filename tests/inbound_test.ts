/**
 * The inbound side (`src/inbound.ts`), on the fake socket and fake timers:
 * the size limit (1009), decoding, `validate` and the `invalidMessage`
 * policies, the rate limit, handler slots and the ordered backlog.
 */
import assert from "node:assert/strict";
import { CloseCode } from "../src/close_codes.ts";
import { EnvelopeError } from "../src/errors.ts";
import { ERROR_TOPIC } from "../src/protocol.ts";
import { setup } from "./_fake_socket.ts";

/** A text envelope of exactly `bytes` UTF-8 bytes, padded with `pad` characters. */
function envelopeOfBytes(bytes: number, pad = "x"): string {
  const empty = '{"topic":"t","data":""}';
  const padBytes = new TextEncoder().encode(pad).length;
  const room = bytes - empty.length;
  assert.equal(room % padBytes, 0, "the padding must divide evenly");
  const text = `{"topic":"t","data":"${pad.repeat(room / padBytes)}"}`;
  assert.equal(new TextEncoder().encode(text).length, bytes);
  return text;
}

// ---------------------------------------------------------------- the size limit

Deno.test("maxMessageBytes: a text message of exactly the limit passes, one byte more closes with 1009", async (t) => {
  await t.step("ASCII", async () => {
    const { open, messages, closes, server } = setup({ maxMessageBytes: 100 });
    const { session, connection, socket } = await open({ closeReport: "sync" });
    connection.message(envelopeOfBytes(100));
    assert.equal(messages.length, 1);
    assert.equal(session.state, "open");
    connection.message(envelopeOfBytes(101));
    assert.equal(messages.length, 1, "never reaches onMessage");
    assert.deepEqual(socket.closes.map((c) => c.code), [1009]);
    assert.equal(closes[0].kind, "too-large");
    assert.equal(closes[0].code, CloseCode.MESSAGE_TOO_BIG);
    assert.equal(server.stats.tooLargeCloses, 1);
  });
  await t.step("multibyte: counted in UTF-8 bytes, not UTF-16 units", async () => {
    const { open, messages, closes } = setup({ maxMessageBytes: 101 });
    const { connection } = await open({ closeReport: "sync" });
    const exact = envelopeOfBytes(101, "é"); // 23 + 39 x 2 bytes
    connection.message(exact);
    assert.equal(messages.length, 1);
    const over = envelopeOfBytes(103, "é"); // 103 bytes, 63 UTF-16 units
    assert.ok(over.length < 101);
    connection.message(over);
    assert.equal(messages.length, 1);
    assert.equal(closes[0]?.kind, "too-large");
  });
  await t.step("4-byte characters at and over the limit", async () => {
    const { open, messages, closes } = setup({ maxMessageBytes: 103 });
    const { connection } = await open({ closeReport: "sync" });
    connection.message(envelopeOfBytes(103, "👋")); // 23 + 20 x 4
    assert.equal(messages.length, 1);
    connection.message(envelopeOfBytes(107, "👋"));
    assert.equal(closes[0]?.kind, "too-large");
  });
});

Deno.test("maxMessageBytes: a binary message of exactly the limit passes, one byte more closes with 1009", async (t) => {
  for (const kind of ["Uint8Array", "ArrayBuffer"] as const) {
    await t.step(kind, async () => {
      const { open, binaries, closes } = setup({ maxMessageBytes: 64 });
      const { connection, socket } = await open({ closeReport: "sync" });
      const make = (n: number) => kind === "Uint8Array" ? new Uint8Array(n) : new ArrayBuffer(n);
      connection.message(make(64));
      assert.equal(binaries.length, 1);
      assert.ok(binaries[0] instanceof Uint8Array);
      assert.equal(binaries[0].byteLength, 64);
      connection.message(make(65));
      assert.equal(binaries.length, 1);
      assert.deepEqual(socket.closes.map((c) => c.code), [1009]);
      assert.equal(closes[0].kind, "too-large");
    });
  }
});

// ---------------------------------------------------------------- decoding and validation

Deno.test("Messages that arrive after the close decision are ignored", async () => {
  const { open, messages, binaries } = setup();
  const { session, connection } = await open({ closeReport: "manual" });
  session.close();
  connection.message('{"topic":"late"}');
  connection.message(new Uint8Array(1));
  assert.equal(messages.length, 0);
  assert.equal(binaries.length, 0);
  assert.equal(session.stats.messagesReceived, 0);
});

Deno.test("A valid envelope reaches onMessage in arrival order", async () => {
  const { open, messages, server } = setup();
  const { connection, session } = await open();
  connection.message('{"topic":"a","data":1}');
  connection.message('{"topic":"b"}');
  connection.message('{"topic":"c","data":{"x":[1]}}');
  assert.deepEqual(messages, [
    { topic: "a", data: 1 },
    { topic: "b", data: undefined },
    { topic: "c", data: { x: [1] } },
  ]);
  assert.equal(session.stats.messagesReceived, 3);
  assert.equal(server.stats.messagesReceived, 3);
});

Deno.test("A malformed envelope is counted, reported, and never reaches onMessage", async (t) => {
  await t.step('invalidMessage "reply" answers on topic "$error"', async () => {
    const { open, messages, invalid, server } = setup({ invalidMessage: "reply" });
    const { connection, session, socket } = await open();
    connection.message("{oops");
    connection.message('{"topic":"x","data":{"__proto__":{"polluted":1}}}');
    assert.equal(messages.length, 0);
    assert.deepEqual(invalid.map((e) => e.code), ["json", "forbidden-key"]);
    assert.ok(invalid.every((e) => e instanceof EnvelopeError));
    assert.deepEqual(socket.texts(), [
      { topic: ERROR_TOPIC, data: { code: "json", message: invalid[0].message } },
      { topic: ERROR_TOPIC, data: { code: "forbidden-key", message: invalid[1].message } },
    ]);
    assert.equal(ERROR_TOPIC, "$error");
    assert.equal(session.stats.invalidMessages, 2);
    assert.equal(session.stats.messagesReceived, 2);
    assert.equal(server.stats.invalidMessages, 2);
    assert.equal(session.state, "open");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
  await t.step('invalidMessage "close" closes with 1007', async () => {
    const { open, messages, invalid, closes } = setup({ invalidMessage: "close" });
    const { connection, socket } = await open({ closeReport: "sync" });
    connection.message("[1,2]");
    assert.equal(messages.length, 0);
    assert.equal(invalid[0].code, "shape");
    assert.deepEqual(socket.closes.map((c) => c.code), [1007]);
    assert.equal(closes[0].kind, "invalid");
    assert.equal(closes[0].code, CloseCode.INVALID_PAYLOAD);
    assert.equal(closes[0].error, invalid[0]);
    assert.deepEqual(socket.sent, []);
  });
  await t.step('invalidMessage "ignore" sends nothing and stays open', async () => {
    const { open, messages, invalid } = setup({ invalidMessage: "ignore" });
    const { connection, socket, session } = await open();
    connection.message('{"topic":1}');
    connection.message('{"topic":"ok"}');
    assert.deepEqual(invalid.map((e) => e.code), ["topic"]);
    assert.deepEqual(messages, [{ topic: "ok", data: undefined }]);
    assert.deepEqual(socket.sent, []);
    assert.equal(session.stats.invalidMessages, 1);
    assert.equal(session.state, "open");
  });
});

Deno.test("validate() refusing or throwing makes an envelope invalid", async (t) => {
  await t.step("false", async () => {
    const { open, messages, invalid } = setup({
      invalidMessage: "ignore",
      validate: (envelope) => envelope.topic !== "bad",
    });
    const { connection } = await open();
    connection.message('{"topic":"bad"}');
    connection.message('{"topic":"good"}');
    assert.deepEqual(invalid.map((e) => e.code), ["rejected"]);
    assert.deepEqual(messages.map((m) => m.topic), ["good"]);
  });
  await t.step("a throw, kept as the cause", async () => {
    const boom = new Error("schema says no");
    const { open, messages, invalid, errors } = setup({
      invalidMessage: "ignore",
      validate: () => {
        throw boom;
      },
    });
    const { connection } = await open();
    connection.message('{"topic":"x"}');
    assert.equal(messages.length, 0);
    assert.equal(invalid[0].code, "rejected");
    assert.equal(invalid[0].cause, boom);
    assert.deepEqual(errors, []);
  });
});

// ---------------------------------------------------------------- the rate limit

Deno.test("The rate limit rejects messages past the burst, answers once per run, and refills", async () => {
  const { open, server, timers, rejected, messages } = setup({ rateLimit: { rate: 10, burst: 3 } });
  const { connection, socket, session } = await open();
  for (let i = 0; i < 6; i++) connection.message(JSON.stringify({ topic: "m", data: i }));
  assert.deepEqual(messages.map((m) => m.data), [0, 1, 2]);
  assert.deepEqual(rejected, ["rate-limited", "rate-limited", "rate-limited"]);
  assert.deepEqual(socket.texts(), [{
    topic: ERROR_TOPIC,
    data: { code: "rate-limited", message: "Message rejected: rate limit exceeded" },
  }]);
  assert.equal(session.stats.messagesRejected, 3);
  assert.equal(server.stats.messagesRejected, 3);
  timers.tick(100); // 10 per second: one token back
  connection.message('{"topic":"m","data":6}');
  connection.message('{"topic":"m","data":7}');
  assert.deepEqual(messages.map((m) => m.data), [0, 1, 2, 6]);
  assert.equal(socket.texts().length, 2, "a new run of rejections is answered again");
});

Deno.test("A client that keeps breaking the rate limit is closed with 1008", async () => {
  const { open } = setup({ rateLimit: { rate: 1, burst: 1, closeAfter: 5 } });
  const { connection, session, socket } = await open({ closeReport: "sync" });
  for (let i = 0; i < 10; i++) connection.message('{"topic":"m"}');
  assert.deepEqual(socket.closes, [{ code: 1008, reason: "Rate limit exceeded" }]);
  assert.equal(session.closeCause?.kind, "policy");
  assert.equal(session.stats.messagesRejected, 5, "nothing is counted after the close");
});

Deno.test("The byte limit rejects large messages past the byte burst, before decoding, and refills", async () => {
  const { open, server, timers, rejected, messages, invalid } = setup({
    maxMessageBytes: 1000,
    rateLimit: { rate: 100, bytes: 10_000 }, // burstBytes: maxMessageBytes
  });
  const { connection, socket } = await open();
  const big = envelopeOfBytes(600);
  connection.message(big);
  connection.message(big); // 400 bytes left in the bucket: rejected
  connection.message("x".repeat(600)); // not even JSON: rejected before it is decoded
  assert.equal(messages.length, 1);
  assert.equal(invalid.length, 0, "the rejected frames were never decoded");
  assert.deepEqual(rejected, ["rate-limited", "rate-limited"]);
  assert.deepEqual(socket.texts(), [{
    topic: ERROR_TOPIC,
    data: { code: "rate-limited", message: "Message rejected: byte rate limit exceeded" },
  }]);
  connection.message('{"topic":"small"}'); // small messages still fit
  assert.equal(messages.length, 2);
  timers.tick(20); // 10,000 bytes a second: 200 bytes back, 583 in the bucket
  connection.message(big);
  assert.equal(messages.length, 2);
  timers.tick(2); // 603
  connection.message(big);
  assert.equal(messages.length, 3);
  assert.equal(server.stats.messagesRejected, 3);
});

Deno.test("The byte limit counts binary messages and the UTF-8 bytes of large text", async () => {
  const { open, messages, binaries } = setup({
    maxMessageBytes: 600,
    rateLimit: { rate: 100, bytes: 1, burstBytes: 1000 },
  });
  const { connection } = await open();
  connection.message(new Uint8Array(600).buffer);
  connection.message(new Uint8Array(600).buffer);
  assert.equal(binaries.length, 1, "600 + 600 bytes exceed the burst of 1000");
  const wide = envelopeOfBytes(401, "é"); // 401 bytes of UTF-8 in 212 UTF-16 units
  connection.message(wide);
  assert.equal(messages.length, 0, "counted as 401 bytes, not 212: 400 are left");
  connection.message(envelopeOfBytes(400));
  assert.equal(messages.length, 1);
});

Deno.test("Rejections by either limit count toward closeAfter", async () => {
  const { open } = setup({ rateLimit: { rate: 100, bytes: 1, burstBytes: 100, closeAfter: 3 } });
  const { connection, session, socket } = await open({ closeReport: "sync" });
  for (let i = 0; i < 5; i++) connection.message(`{"topic":"m","data":"${"x".repeat(200)}"}`);
  assert.deepEqual(socket.closes, [{ code: 1008, reason: "Rate limit exceeded" }]);
  assert.equal(session.closeCause?.kind, "policy");
});

Deno.test("rateLimit: false lets every message through", async () => {
  const { open, messages } = setup({ rateLimit: false });
  const { connection } = await open();
  for (let i = 0; i < 1000; i++) connection.message('{"topic":"m"}');
  assert.equal(messages.length, 1000);
});

// ---------------------------------------------------------------- handler slots and the backlog

Deno.test("Async handlers run one at a time per session, in arrival order", async () => {
  const started: unknown[] = [];
  const gates: PromiseWithResolvers<void>[] = [];
  const { open, errors } = setup({
    rateLimit: false,
    onMessage(_, message) {
      started.push(message.data);
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      return gate.promise;
    },
  });
  const { connection, session } = await open();
  for (let i = 0; i < 4; i++) connection.message(JSON.stringify({ topic: "m", data: i }));
  assert.deepEqual(started, [0]);
  assert.equal(session.stats.pendingMessages, 3);
  gates[0].resolve();
  await gates[0].promise;
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  gates[1].reject(new Error("handler failed")); // a failure frees the slot too
  await gates[1].promise.catch(() => {});
  await Promise.resolve();
  assert.deepEqual(started, [0, 1, 2]);
  gates[2].resolve();
  await gates[2].promise;
  await Promise.resolve();
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.deepEqual(errors.map((e) => (e.error as Error).message), ["handler failed"]);
  gates[3].resolve();
});

Deno.test("maxConcurrentHandlers lets that many async handlers overlap", async () => {
  let running = 0;
  let most = 0;
  const gates: PromiseWithResolvers<void>[] = [];
  const { open } = setup({
    rateLimit: false,
    maxConcurrentHandlers: 3,
    onMessage() {
      most = Math.max(most, ++running);
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      return gate.promise.finally(() => running--);
    },
  });
  const { connection, session } = await open();
  for (let i = 0; i < 5; i++) connection.message('{"topic":"m"}');
  assert.equal(most, 3);
  assert.equal(session.stats.pendingMessages, 2);
  for (const gate of gates) gate.resolve();
});

Deno.test("A full handler backlog rejects with busy, and a closed session counts what waited", async () => {
  const { open, rejected } = setup({
    rateLimit: false,
    maxPendingMessages: 2,
    onMessage: () => new Promise<void>(() => {}), // never settles
  });
  const { connection, session, socket } = await open({ closeReport: "sync" });
  for (let i = 0; i < 5; i++) connection.message('{"topic":"m"}');
  assert.equal(session.stats.pendingMessages, 2);
  assert.deepEqual(rejected, ["busy", "busy"]);
  assert.equal(
    socket.texts().filter((m) => (m as { topic: string }).topic === ERROR_TOPIC).length,
    2,
  );
  session.close();
  assert.equal(session.stats.messagesRejected, 4, "2 busy + 2 that never reached a handler");
});

Deno.test("maxPendingBytes bounds the backlog by memory", async () => {
  const { open, rejected } = setup({
    rateLimit: false,
    maxPendingBytes: 100,
    onMessage: () => new Promise<void>(() => {}),
  });
  const { connection, session } = await open();
  connection.message('{"topic":"m"}'); // runs
  connection.message(`{"topic":"m","data":"${"x".repeat(20)}"}`); // 38 units: 76 bytes held
  connection.message(`{"topic":"m","data":"${"x".repeat(20)}"}`); // would be 152: busy
  assert.equal(session.stats.pendingMessages, 1);
  assert.deepEqual(rejected, ["busy"]);
});

Deno.test("Sync handlers never wait, whatever the backlog settings", async () => {
  const { open, messages } = setup({ rateLimit: false, maxPendingMessages: 1 });
  const { connection } = await open();
  for (let i = 0; i < 100; i++) connection.message('{"topic":"m"}');
  assert.equal(messages.length, 100);
});
