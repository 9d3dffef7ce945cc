import assert from "node:assert/strict";
import { CloseCode } from "../src/close_codes.ts";
import { EnvelopeError, QueueFullError } from "../src/errors.ts";
import { Server, type ServerOptions } from "../src/server.ts";
import { utf8Length } from "../src/protocol.ts";
import { type CloseCause, type DropInfo, ERROR_TOPIC, type Session } from "../src/session.ts";
import type { EventMap, Message } from "../src/topics.ts";
import { FakeTimers, openSession, type OpenSessionOptions } from "./_fake_socket.ts";

type AnySession = Session<unknown, EventMap, EventMap>;

/** A server on fake timers that records what its hooks see. */
function setup(options: ServerOptions<unknown, EventMap, EventMap> = {}) {
  const timers = new FakeTimers();
  const drops: DropInfo[] = [];
  const errors: unknown[] = [];
  const closes: CloseCause[] = [];
  const messages: Message<EventMap>[] = [];
  const binaries: Uint8Array[] = [];
  const invalid: EnvelopeError[] = [];
  const server = new Server<unknown, EventMap, EventMap>({
    timers,
    onDrop: (_, drop) => void drops.push(drop),
    onError: (error) => void errors.push(error),
    onClose: (_, cause) => void closes.push(cause),
    onMessage: (_, message) => void messages.push(message),
    onBinary: (_, data) => void binaries.push(data),
    onInvalidMessage: (_, error) => void invalid.push(error),
    ...options,
  });
  const open = (o: OpenSessionOptions<unknown> = {}) => openSession(server, o);
  return { server, timers, drops, errors, closes, messages, binaries, invalid, open };
}

function sum(drops: DropInfo[], key: "messages" | "bytes" = "messages"): number {
  return drops.reduce((total, drop) => total + drop[key], 0);
}

function frameBytes(topic: string, data: unknown): number {
  return new TextEncoder().encode(JSON.stringify({ topic, data })).length;
}

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

// ---------------------------------------------------------------- sending

Deno.test("Session.send() writes to the socket while it is under the high-water mark", () => {
  const { open, server } = setup({ highWaterMark: 100 });
  const { session, socket } = open();
  assert.equal(session.send("greet", { text: "hi" }), "sent");
  socket.bufferedAmount = 99;
  assert.equal(session.send("greet", 2), "sent");
  assert.deepEqual(socket.sent, [
    '{"topic":"greet","data":{"text":"hi"}}',
    '{"topic":"greet","data":2}',
  ]);
  const stats = session.stats;
  assert.equal(stats.messagesSent, 2);
  assert.equal(stats.bytesSent, frameBytes("greet", { text: "hi" }) + frameBytes("greet", 2));
  assert.equal(stats.messagesQueued, 0);
  assert.equal(server.stats.messagesSent, 2);
});

Deno.test("Session.send() counts UTF-8 bytes of text frames", () => {
  const { open } = setup();
  const { session } = open();
  session.send("t", "héllo 👋");
  assert.equal(session.stats.bytesSent, frameBytes("t", "héllo 👋"));
});

Deno.test("Session.send() queues at the high-water mark and a drain flushes in order", () => {
  const { open } = setup({ highWaterMark: 100 });
  const { session, socket, connection } = open();
  socket.bufferedAmount = 100;
  assert.equal(session.send("n", 1), "queued");
  socket.bufferedAmount = 0;
  // The queue is not empty: later messages wait behind it to keep the order.
  assert.equal(session.send("n", 2), "queued");
  assert.equal(session.sendBinary(new Uint8Array([3])), "queued");
  assert.equal(session.send("n", 4), "queued");
  assert.deepEqual(socket.sent, []);
  assert.equal(session.stats.queueLength, 4);
  connection.drain();
  assert.equal(socket.sent.length, 4);
  assert.deepEqual(socket.sent[2], new Uint8Array([3]));
  assert.deepEqual(socket.data(), [1, 2, 4]);
  assert.equal(session.stats.queueLength, 0);
  assert.equal(session.stats.queueBytes, 0);
  assert.equal(session.send("n", 5), "sent");
  assert.deepEqual(socket.data(), [1, 2, 4, 5]);
});

Deno.test("A drain writes only while the socket stays under the high-water mark", () => {
  const { open } = setup({ highWaterMark: 50 });
  const { session, socket, connection } = open();
  socket.bufferedAmount = 50;
  for (let i = 0; i < 10; i++) assert.equal(session.send("n", i), "queued");
  socket.bufferedAmount = 0;
  socket.onSend = (data) => socket.bufferedAmount += (data as string).length; // ~20 bytes each
  connection.drain();
  assert.deepEqual(socket.data(), [0, 1, 2]);
  assert.equal(session.stats.queueLength, 7);
  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [0, 1, 2, 3, 4, 5]);
  socket.onSend = undefined;
  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("Session.sendBinary() sends the bytes as given", () => {
  const { open } = setup();
  const { session, socket } = open();
  const bytes = new Uint8Array([1, 2, 3]);
  assert.equal(session.sendBinary(bytes), "sent");
  assert.equal(socket.sent[0], bytes, "not copied");
  assert.equal(session.stats.bytesSent, 3);
});

Deno.test("Session.send() throws TypeError for data JSON cannot hold, and sends nothing", () => {
  const { open } = setup();
  const { session, socket } = open();
  assert.throws(() => session.send("t", 1n), TypeError);
  assert.deepEqual(socket.sent, []);
  assert.equal(session.state, "open");
});

Deno.test("Session.send() reports a frame the runtime refused as dropped", () => {
  const { open, drops, server } = setup();
  const { session, socket } = open({ sendStatus: 0 });
  assert.equal(session.send("t", 1), "dropped");
  assert.deepEqual(drops, [{ reason: "runtime", messages: 1, bytes: frameBytes("t", 1) }]);
  assert.equal(session.stats.messagesSent, 0);
  assert.equal(session.stats.messagesDropped, 1);
  assert.equal(server.stats.messagesDropped, 1);
  socket.sendStatus = 7;
  assert.equal(session.send("t", 2), "sent");
});

Deno.test("Session.send() on a closing or closed session returns closed", () => {
  const { open } = setup();
  const { session, socket } = open({ closeReport: "manual" });
  session.close();
  assert.equal(session.send("t", 1), "closed");
  assert.equal(session.sendBinary(new Uint8Array(1)), "closed");
  socket.completeClose();
  assert.equal(session.send("t", 1), "closed");
  assert.deepEqual(socket.sent, []);
});

// ---------------------------------------------------------------- overflow policies

Deno.test('Overflow policy "close" closes with 1013 and sends nothing after the decision', () => {
  const { open, drops, closes, server, timers } = setup({
    highWaterMark: 10,
    maxQueueMessages: 3,
  });
  const { session, socket, connection } = open({ closeReport: "manual" });
  socket.bufferedAmount = 10;
  const bytes = frameBytes("n", 0);
  for (let i = 0; i < 3; i++) assert.equal(session.send("n", i), "queued");
  assert.equal(session.send("n", 3), "dropped");
  assert.equal(session.state, "closing");
  assert.deepEqual(socket.closes, [{ code: 1013, reason: "Send queue full" }]);

  const cause = session.closeCause!;
  assert.equal(cause.kind, "overflow");
  assert.equal(cause.code, CloseCode.TRY_AGAIN_LATER);
  assert.ok(cause.error instanceof QueueFullError);
  assert.equal(cause.error.messages, 3);
  assert.equal(cause.error.bytes, 3 * bytes);
  assert.equal(cause.error.rejectedBytes, bytes);

  // The rejected message, then the three queued ones, are dropped and reported.
  assert.deepEqual(drops, [
    { reason: "overflow", messages: 1, bytes },
    { reason: "closed", messages: 3, bytes: 3 * bytes },
  ]);
  assert.equal(session.stats.messagesDropped, 4);
  assert.equal(session.stats.bytesDropped, 4 * bytes);
  assert.equal(session.stats.queueLength, 0);

  // Nothing is written after the decision: not by send, not by a drain.
  socket.bufferedAmount = 0;
  assert.equal(session.send("n", 4), "closed");
  connection.drain();
  assert.deepEqual(socket.sent, []);
  assert.equal(session.stats.messagesSent + session.stats.messagesDropped, 4);

  socket.completeClose(1013, "Send queue full");
  assert.equal(session.state, "closed");
  assert.deepEqual(closes, [cause]);
  assert.equal(server.stats.overflowCloses, 1);
  assert.equal(server.stats.messagesDropped, 4);
  assert.equal(timers.pending, 0);
});

Deno.test('Overflow policy "close" fires on the byte bound too', () => {
  const { open } = setup({ highWaterMark: 10, maxQueueBytes: 100 });
  const { session, socket } = open({ closeReport: "sync" });
  socket.bufferedAmount = 10;
  assert.equal(session.send("t", "x".repeat(60)), "queued");
  assert.equal(session.send("t", "y".repeat(60)), "dropped");
  assert.equal(session.state, "closed");
  assert.equal(session.closeCause?.kind, "overflow");
  assert.deepEqual(socket.closes.map((c) => c.code), [1013]);
});

Deno.test('Overflow policy "drop-oldest" delivers the newest frames after a drain', () => {
  const { open, drops, server } = setup({
    highWaterMark: 10,
    maxQueueMessages: 3,
    overflow: "drop-oldest",
  });
  const { session, socket, connection } = open();
  socket.bufferedAmount = 10;
  const offered = 8;
  const results = [];
  for (let i = 0; i < offered; i++) results.push(session.send("n", i));
  assert.deepEqual(results, Array(offered).fill("queued"));
  assert.equal(session.state, "open");
  const bytes = frameBytes("n", 0);
  assert.deepEqual(drops, Array(5).fill({ reason: "overflow", messages: 1, bytes }));
  let stats = session.stats;
  assert.equal(stats.messagesDropped, 5);
  assert.equal(stats.bytesDropped, 5 * bytes);
  assert.equal(stats.messagesQueued, offered);
  assert.equal(stats.messagesSent + stats.messagesDropped + stats.queueLength, offered);

  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [5, 6, 7]);
  stats = session.stats;
  assert.equal(stats.messagesSent, 3);
  assert.equal(stats.messagesSent + stats.messagesDropped + stats.queueLength, offered);
  assert.equal(sum(drops), stats.messagesDropped);
  assert.equal(sum(drops, "bytes"), stats.bytesDropped);
  assert.equal(server.stats.messagesDropped, 5);
  assert.equal(server.stats.overflowCloses, 0);
});

Deno.test('Overflow policy "drop-oldest" drops only as many bytes as the new frame needs', () => {
  const { open, drops } = setup({
    highWaterMark: 10,
    maxQueueBytes: 100,
    overflow: "drop-oldest",
  });
  const { session, socket, connection } = open();
  socket.bufferedAmount = 10;
  const small = "s".repeat(9);
  for (let i = 0; i < 3; i++) session.send("t", small + i); // 3 x 33 = 99 bytes
  assert.equal(session.stats.queueBytes, 99);
  assert.equal(session.send("t", "b".repeat(40)), "queued"); // 62 bytes: drops two
  assert.deepEqual(drops.map((d) => d.messages), [2]);
  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [small + 2, "b".repeat(40)]);
});

Deno.test('Overflow policy "drop-newest" keeps the oldest frames and drops the new ones', () => {
  const { open, drops } = setup({
    highWaterMark: 10,
    maxQueueMessages: 3,
    overflow: "drop-newest",
  });
  const { session, socket, connection } = open();
  socket.bufferedAmount = 10;
  const offered = 7;
  const results = [];
  for (let i = 0; i < offered; i++) results.push(session.send("n", i));
  assert.deepEqual(results, [
    "queued",
    "queued",
    "queued",
    "dropped",
    "dropped",
    "dropped",
    "dropped",
  ]);
  const bytes = frameBytes("n", 0);
  assert.deepEqual(drops, Array(4).fill({ reason: "overflow", messages: 1, bytes }));
  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [0, 1, 2]);
  const stats = session.stats;
  assert.equal(stats.messagesSent + stats.messagesDropped + stats.queueLength, offered);
  assert.equal(sum(drops), stats.messagesDropped);
  assert.equal(sum(drops, "bytes"), stats.bytesDropped);
  assert.equal(session.state, "open");
  // Room again: the next message is queued behind nothing and sent.
  assert.equal(session.send("n", 99), "sent");
});

Deno.test("Every policy drops a message larger than maxQueueBytes without losing the queue", async (t) => {
  for (const overflow of ["drop-oldest", "drop-newest"] as const) {
    await t.step(overflow, () => {
      const { open, drops } = setup({ highWaterMark: 10, maxQueueBytes: 100, overflow });
      const { session, socket, connection } = open();
      socket.bufferedAmount = 10;
      session.send("t", 1);
      assert.equal(session.send("t", "x".repeat(200)), "dropped");
      assert.equal(drops.length, 1);
      socket.bufferedAmount = 0;
      connection.drain();
      assert.deepEqual(socket.data(), [1]);
    });
  }
});

Deno.test("Session.close() drops what is still queued and reports it to onDrop", () => {
  const { open, drops } = setup({ highWaterMark: 10 });
  const { session, socket } = open({ closeReport: "sync" });
  socket.bufferedAmount = 10;
  session.send("t", 1);
  session.send("t", 2);
  session.close();
  assert.deepEqual(drops, [{ reason: "closed", messages: 2, bytes: 2 * frameBytes("t", 1) }]);
  assert.equal(session.stats.messagesDropped, 2);
  assert.deepEqual(socket.sent, []);
});

Deno.test("Session.stats reports every counter", () => {
  const { open } = setup({ highWaterMark: 10, maxQueueMessages: 4, overflow: "drop-oldest" });
  const { session, socket, connection } = open();
  session.send("t", "a"); // sent
  connection.message('{"topic":"in"}');
  connection.message("not json"); // answered at once on "$error"
  connection.message(new Uint8Array(2));
  const reply = utf8Length(socket.sent[1] as string);
  socket.bufferedAmount = 10;
  for (const data of ["b", "c", "d", "e", "f"]) session.send("t", data); // the 5th drops "b"
  const frame = frameBytes("t", "a");
  assert.deepEqual(session.stats, {
    messagesSent: 2,
    bytesSent: frame + reply,
    messagesQueued: 5,
    queueLength: 4,
    queueBytes: 4 * frame,
    queuePeakMessages: 4,
    queuePeakBytes: 4 * frame,
    messagesDropped: 1,
    bytesDropped: frame,
    messagesReceived: 3,
    invalidMessages: 1,
    messagesRejected: 0,
    pendingMessages: 0,
  });
  socket.bufferedAmount = 0;
  connection.drain();
  assert.equal(session.stats.queueLength, 0);
  assert.equal(session.stats.queueBytes, 0);
  assert.equal(session.stats.queuePeakMessages, 4, "the peak stays");
  assert.equal(session.stats.messagesSent, 6);
  assert.equal(session.stats.bytesSent, 5 * frame + reply);
});

Deno.test({
  name: "Session.stats keeps the queue peaks after the session closed",
  fn() {
    const peaks: number[] = [];
    const { open } = setup({
      highWaterMark: 10,
      onClose: (session) => void peaks.push(session.stats.queuePeakMessages),
    });
    const { session, socket } = open({ closeReport: "sync" });
    socket.bufferedAmount = 10;
    session.send("t", 1);
    session.send("t", 2);
    session.close();
    assert.deepEqual(peaks, [2]);
    assert.equal(session.stats.queuePeakMessages, 2);
  },
});

Deno.test({
  name: "An onDrop hook that sends to the same session does not recurse",
  fn() {
    let calls = 0;
    const { open, errors } = setup({
      highWaterMark: 10,
      maxQueueMessages: 1,
      overflow: "drop-newest",
      onDrop(session) {
        calls++;
        session.send("lagging", calls);
      },
    });
    const { session, socket } = open();
    socket.bufferedAmount = 10;
    session.send("t", 1);
    assert.equal(session.send("t", 2), "dropped");
    assert.deepEqual(errors, []);
    assert.equal(calls, 1, "the nested drop is counted, not reported again");
    assert.equal(session.stats.messagesDropped, 2);
  },
});

// ---------------------------------------------------------------- inbound

Deno.test("maxMessageBytes: a text message of exactly the limit passes, one byte more closes with 1009", async (t) => {
  await t.step("ASCII", () => {
    const { open, messages, closes, server } = setup({ maxMessageBytes: 100 });
    const { session, connection, socket } = open({ closeReport: "sync" });
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
  await t.step("multibyte: counted in UTF-8 bytes, not UTF-16 units", () => {
    const { open, messages, closes } = setup({ maxMessageBytes: 101 });
    const { connection } = open({ closeReport: "sync" });
    const exact = envelopeOfBytes(101, "é"); // 23 + 39 x 2 bytes
    connection.message(exact);
    assert.equal(messages.length, 1);
    const over = envelopeOfBytes(103, "é"); // 103 bytes, 63 UTF-16 units
    assert.ok(over.length < 101);
    connection.message(over);
    assert.equal(messages.length, 1);
    assert.equal(closes[0]?.kind, "too-large");
  });
  await t.step("4-byte characters at and over the limit", () => {
    const { open, messages, closes } = setup({ maxMessageBytes: 103 });
    const { connection } = open({ closeReport: "sync" });
    connection.message(envelopeOfBytes(103, "👋")); // 23 + 20 x 4
    assert.equal(messages.length, 1);
    connection.message(envelopeOfBytes(107, "👋"));
    assert.equal(closes[0]?.kind, "too-large");
  });
});

Deno.test("maxMessageBytes: a binary message of exactly the limit passes, one byte more closes with 1009", async (t) => {
  for (const kind of ["Uint8Array", "ArrayBuffer"] as const) {
    await t.step(kind, () => {
      const { open, binaries, closes } = setup({ maxMessageBytes: 64 });
      const { connection, socket } = open({ closeReport: "sync" });
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

Deno.test("Messages after the close decision are ignored", () => {
  const { open, messages, binaries } = setup();
  const { session, connection } = open({ closeReport: "manual" });
  session.close();
  connection.message('{"topic":"late"}');
  connection.message(new Uint8Array(1));
  assert.equal(messages.length, 0);
  assert.equal(binaries.length, 0);
  assert.equal(session.stats.messagesReceived, 0);
});

Deno.test("A valid envelope reaches onMessage in arrival order", () => {
  const { open, messages, server } = setup();
  const { connection, session } = open();
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
  await t.step('invalidMessage "reply" answers on topic "$error"', () => {
    const { open, messages, invalid, server } = setup({ invalidMessage: "reply" });
    const { connection, session, socket } = open();
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
  await t.step('invalidMessage "close" closes with 1007', () => {
    const { open, messages, invalid, closes } = setup({ invalidMessage: "close" });
    const { connection, socket } = open({ closeReport: "sync" });
    connection.message("[1,2]");
    assert.equal(messages.length, 0);
    assert.equal(invalid[0].code, "shape");
    assert.deepEqual(socket.closes.map((c) => c.code), [1007]);
    assert.equal(closes[0].kind, "invalid");
    assert.equal(closes[0].code, CloseCode.INVALID_PAYLOAD);
    assert.equal(closes[0].error, invalid[0]);
    assert.deepEqual(socket.sent, []);
  });
  await t.step('invalidMessage "ignore" sends nothing and stays open', () => {
    const { open, messages, invalid } = setup({ invalidMessage: "ignore" });
    const { connection, socket, session } = open();
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
  await t.step("false", () => {
    const { open, messages, invalid } = setup({
      invalidMessage: "ignore",
      validate: (envelope) => envelope.topic !== "bad",
    });
    const { connection } = open();
    connection.message('{"topic":"bad"}');
    connection.message('{"topic":"good"}');
    assert.deepEqual(invalid.map((e) => e.code), ["rejected"]);
    assert.deepEqual(messages.map((m) => m.topic), ["good"]);
  });
  await t.step("a throw, kept as the cause", () => {
    const boom = new Error("schema says no");
    const { open, messages, invalid, errors } = setup({
      invalidMessage: "ignore",
      validate: () => {
        throw boom;
      },
    });
    const { connection } = open();
    connection.message('{"topic":"x"}');
    assert.equal(messages.length, 0);
    assert.equal(invalid[0].code, "rejected");
    assert.equal(invalid[0].cause, boom);
    assert.deepEqual(errors, []);
  });
});

Deno.test("A throwing onMessage goes to onError and the session stays open", () => {
  const boom = new Error("boom");
  const seen: [unknown, AnySession | undefined][] = [];
  const { open } = setup({
    onMessage() {
      throw boom;
    },
    onError: (error, session) => void seen.push([error, session]),
  });
  const { connection, session } = open();
  connection.message('{"topic":"x"}');
  assert.deepEqual(seen, [[boom, session]]);
  assert.equal(session.state, "open");
  assert.equal(session.send("still", "here"), "sent");
});

Deno.test("A rejecting onMessage or onBinary goes to onError and the session stays open", async () => {
  const boom = new Error("async boom");
  const { promise: reported, resolve } = Promise.withResolvers<[unknown, unknown][]>();
  const seen: [unknown, unknown][] = [];
  const { open } = setup({
    onMessage: () => Promise.reject(boom),
    onBinary: async () => {
      await Promise.resolve();
      throw boom;
    },
    onError(error, session) {
      seen.push([error, session]);
      if (seen.length === 2) resolve(seen);
    },
  });
  const { connection, session } = open();
  connection.message('{"topic":"x"}');
  connection.message(new Uint8Array(1));
  assert.deepEqual(await reported, [[boom, session], [boom, session]]);
  assert.equal(session.state, "open");
});

Deno.test("A throwing onConnect, onDrop or onClose goes to onError", () => {
  const errors: unknown[] = [];
  const { open } = setup({
    highWaterMark: 1,
    maxQueueMessages: 1,
    overflow: "drop-newest",
    onConnect() {
      throw new Error("connect");
    },
    onDrop() {
      throw new Error("drop");
    },
    onClose() {
      throw new Error("close");
    },
    onError: (error) => void errors.push((error as Error).message),
  });
  const { session, socket } = open({ closeReport: "sync" });
  socket.bufferedAmount = 1;
  session.send("t", 1);
  assert.equal(session.send("t", 2), "dropped");
  session.close();
  assert.deepEqual(errors, ["connect", "drop", "drop", "close"]);
});

// ---------------------------------------------------------------- closing

Deno.test("await session.close() resolves with the cause once the close is reported", async () => {
  const { open, closes, timers } = setup();
  const { session, socket } = open({ closeReport: "manual" });
  let settled = false;
  const closing = session.close(4000, "bye").then((cause) => {
    settled = true;
    return cause;
  });
  assert.deepEqual(socket.closes, [{ code: 4000, reason: "bye" }]);
  assert.equal(session.state, "closing");
  assert.equal(session.closed, true);
  await Promise.resolve();
  assert.equal(settled, false, "not before the close is reported");
  assert.equal(closes.length, 0, "onClose waits for the close too");
  socket.completeClose(4000, "bye");
  const cause = await closing;
  assert.deepEqual(cause, { kind: "server", code: 4000, reason: "bye" });
  assert.equal(session.state, "closed");
  assert.equal(session.closeCause, cause);
  assert.deepEqual(closes, [cause]);
  assert.equal(timers.pending, 0, "the close timer is cleared");
});

Deno.test("await session.close() resolves at once when the runtime reports the close inside close()", async () => {
  const { open, timers, server } = setup();
  const { session, socket } = open({ closeReport: "sync" });
  const cause = await session.close();
  assert.deepEqual(cause, { kind: "server", code: 1000, reason: "" });
  assert.deepEqual(socket.closes, [{ code: 1000, reason: "" }]);
  assert.equal(timers.pending, 0, "no close timer after a synchronous close");
  assert.equal(server.sessions.size, 0);
});

Deno.test("await session.close() resolves with forced: true after closeTimeout if the close is never reported", async () => {
  const { open, closes, timers, server } = setup({ closeTimeout: 2000 });
  const { session } = open({ closeReport: "manual" });
  let settled = false;
  const closing = session.close(4000, "bye").then((cause) => {
    settled = true;
    return cause;
  });
  assert.deepEqual(timers.delays(), [2000]);
  timers.tick(1999);
  await Promise.resolve();
  assert.equal(settled, false);
  assert.equal(session.state, "closing");
  timers.tick(1);
  const cause = await closing;
  assert.deepEqual(cause, { kind: "server", code: 4000, reason: "bye", forced: true });
  assert.equal(session.state, "closed");
  assert.deepEqual(closes, [cause]);
  assert.equal(server.sessions.size, 0);
  assert.equal(timers.pending, 0);
});

Deno.test("Session.close() called again returns the same promise and keeps the first cause", async () => {
  const { open, closes } = setup();
  const { session, socket } = open({ closeReport: "manual" });
  const first = session.close(4001, "first");
  const second = session.close(4002, "second");
  assert.equal(first, second);
  assert.equal(socket.closes.length, 1);
  socket.completeClose();
  assert.equal((await first).code, 4001);
  const third = session.close(4003, "third");
  assert.equal(third, first);
  assert.equal(closes.length, 1);
});

Deno.test("Session.close() validates the close code and the reason", async (t) => {
  const { open } = setup();
  const { session } = open({ closeReport: "sync" });
  for (const code of [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 0, -1, 1000.5, NaN]) {
    await t.step(`code ${code} throws RangeError`, () => {
      assert.throws(() => session.close(code), RangeError);
      assert.equal(session.state, "open");
    });
  }
  await t.step("a reason of 124 UTF-8 bytes throws RangeError", () => {
    assert.throws(() => session.close(1000, "x".repeat(124)), RangeError);
    assert.throws(
      () => session.close(1000, "é".repeat(62)),
      RangeError,
      "62 characters, 124 bytes",
    );
    assert.equal(session.state, "open");
  });
  for (const code of [1000, 1001, 1003, 1007, 1014, 3000, 4999]) {
    await t.step(`code ${code} is allowed`, async () => {
      const { open } = setup();
      const other = open({ closeReport: "sync" }).session;
      assert.equal((await other.close(code, "é".repeat(61) + "x")).code, code);
    });
  }
  session.close();
});

Deno.test("A close decided by the server is sent with its reason cut to 123 bytes", () => {
  const { open } = setup({ invalidMessage: "close" });
  const { connection, socket } = open({ closeReport: "sync" });
  connection.message('{"topic":' + "1".repeat(300) + "}");
  const reason = socket.closes[0].reason!;
  assert.ok(new TextEncoder().encode(reason).length <= 123);
});

Deno.test("The close cause says who closed and why", async (t) => {
  await t.step("the client, with a code", () => {
    const { open, closes } = setup();
    const { connection, session } = open();
    connection.close(4001, "bye");
    assert.deepEqual(closes, [{ kind: "client", code: 4001, reason: "bye" }]);
    assert.equal(session.state, "closed");
  });
  await t.step("the client, without a code (1005)", () => {
    const { open, closes } = setup();
    open().connection.close(1005, "");
    assert.deepEqual(closes, [{ kind: "client", code: 1005, reason: "" }]);
  });
  await t.step("an error, then the close", () => {
    const { open, closes } = setup();
    const { connection } = open();
    const error = new Error("Unexpected EOF");
    connection.error(error);
    connection.close(1006, "");
    assert.deepEqual(closes, [{ kind: "error", code: 1006, reason: "", error }]);
  });
  await t.step("a dropped connection without an error (1006)", () => {
    const { open, closes } = setup();
    open().connection.close(1006, "");
    assert.equal(closes[0].kind, "error");
    assert.equal(closes[0].code, 1006);
  });
  await t.step("Deno's ping timeout: an error, then the close", () => {
    const { open, closes } = setup();
    const { connection } = open();
    const event = new ErrorEvent("error", { message: "No response from ping frame." });
    connection.error(event);
    connection.close(1001, "");
    assert.equal(closes[0].kind, "timeout");
    assert.equal(closes[0].code, 1001);
    assert.equal(closes[0].error, event);
  });
  await t.step("only the first of several errors is kept", () => {
    const { open, closes } = setup();
    const { connection } = open();
    const first = new Error("first");
    connection.error(first);
    connection.error(new Error("second"));
    connection.close(1006, "");
    assert.equal(closes[0].error, first);
  });
  await t.step('the adapter says "too-large" (Bun reports 1006)', () => {
    const { open, closes, server } = setup();
    open().connection.close(1006, "Received too big message", "too-large");
    assert.deepEqual(closes, [{
      kind: "too-large",
      code: CloseCode.MESSAGE_TOO_BIG,
      reason: "Received too big message",
    }]);
    assert.equal(server.stats.tooLargeCloses, 1);
  });
  await t.step('the adapter says "timeout" (Bun reports 1006)', () => {
    const { open, closes } = setup();
    open().connection.close(1006, "WebSocket timed out from inactivity", "timeout");
    assert.equal(closes[0].kind, "timeout");
    assert.equal(closes[0].code, 1006);
    assert.equal(closes[0].reason, "WebSocket timed out from inactivity");
  });
  await t.step("the server: the cause stays the server's whatever the echo says", () => {
    const { open, closes } = setup();
    const { session, socket } = open({ closeReport: "manual" });
    session.close(4000, "mine");
    socket.completeClose(1006, "");
    assert.deepEqual(closes, [{ kind: "server", code: 4000, reason: "mine" }]);
  });
});

Deno.test("A second close report is ignored", () => {
  const { open, closes, server } = setup();
  const { connection, session } = open();
  connection.close(4001, "first");
  connection.close(4002, "second");
  connection.close(1006, "", "error");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].code, 4001);
  assert.equal(session.closeCause?.code, 4001);
  assert.equal(server.stats.closed, 1);
  assert.equal(server.stats.opened, 1);
});

Deno.test("A close reported while the server's close is under way finishes it once", async () => {
  const { open, closes, timers } = setup();
  const { session, connection } = open({ closeReport: "manual" });
  const closing = session.close(4000, "bye");
  connection.close(4000, "bye");
  connection.close(4000, "bye");
  await closing;
  assert.equal(closes.length, 1);
  assert.equal(timers.pending, 0);
});

Deno.test("A socket whose close() throws is released at once, forced", async () => {
  const { open, errors, closes } = setup();
  const { session, socket } = open();
  const failure = new Error("already gone");
  socket.close = () => {
    throw failure;
  };
  const cause = await session.close(4000, "bye");
  assert.equal(cause.forced, true);
  assert.equal(cause.kind, "server");
  assert.deepEqual(errors, [failure]);
  assert.equal(closes.length, 1);
});

// ---------------------------------------------------------------- drain scheduler

Deno.test("The drain scheduler flushes sessions without drains on the server's timers", () => {
  const { open, timers } = setup({ highWaterMark: 10 });
  const a = open({ drains: false });
  const b = open({ drains: false });
  a.socket.bufferedAmount = 10;
  b.socket.bufferedAmount = 10;
  assert.equal(a.session.send("n", 1), "queued");
  assert.equal(timers.pending, 1);
  assert.equal(b.session.send("n", 2), "queued");
  assert.equal(a.session.send("n", 3), "queued");
  assert.equal(timers.pending, 1, "one timer for the whole server, not per message or session");
  const [delay] = timers.delays();

  timers.tick(delay); // still congested: nothing written, polled again
  assert.deepEqual(a.socket.sent, []);
  assert.equal(timers.pending, 1);

  a.socket.bufferedAmount = 0;
  timers.tick(delay);
  assert.deepEqual(a.socket.data(), [1, 3]);
  assert.deepEqual(b.socket.sent, []);
  assert.equal(timers.pending, 1, "b is still congested");

  b.socket.bufferedAmount = 0;
  timers.tick(delay);
  assert.deepEqual(b.socket.data(), [2]);
  assert.equal(timers.pending, 0, "nothing congested: the timer stops");
  timers.tick(1000);
  assert.equal(timers.pending, 0);
});

Deno.test("The drain scheduler leaves sessions with drains alone", () => {
  const { open, timers } = setup({ highWaterMark: 10 });
  const { session, socket, connection } = open({ drains: true });
  socket.bufferedAmount = 10;
  session.send("n", 1);
  assert.equal(timers.pending, 0);
  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [1]);
});

Deno.test("The drain scheduler stops when its last congested session closes", () => {
  const { open, timers } = setup({ highWaterMark: 10 });
  const a = open({ drains: false, closeReport: "sync" });
  const b = open({ drains: false, closeReport: "sync" });
  a.socket.bufferedAmount = 10;
  b.socket.bufferedAmount = 10;
  a.session.send("n", 1);
  b.session.send("n", 2);
  a.session.close();
  assert.equal(timers.pending, 1, "b still needs it");
  b.connection.close(1000, "");
  assert.equal(timers.pending, 0);
});

Deno.test("The drain scheduler stops after its next poll when its only congested session is closing", () => {
  const { open, timers } = setup({ highWaterMark: 10, closeTimeout: 60_000 });
  const a = open({ drains: false, closeReport: "manual" });
  a.socket.bufferedAmount = 10;
  a.session.send("n", 1);
  const [poll] = timers.delays();
  a.session.close();
  timers.tick(poll);
  // The close timer is the only one left: the scheduler has nothing to poll.
  assert.deepEqual(timers.delays(), [60_000]);
  assert.deepEqual(a.socket.sent, []);
  a.socket.completeClose();
  assert.equal(timers.pending, 0);
});
