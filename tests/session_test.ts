/**
 * The public face of a connection (`src/session.ts`), on the fake socket
 * and fake timers: `id` and `ctx`, what `send` and `sendBinary` return,
 * `close()` with its codes and reasons (a reason alone closes with 1000),
 * `state`, `closed`, `closeCause`, and the `stats` snapshot.
 */
import assert from "node:assert/strict";
import { utf8Length } from "../src/utf8.ts";
import { envelopeBytes, setup, upgradeRequest } from "./_fake_socket.ts";

// ---------------------------------------------------------------- id and ctx

Deno.test("Session.ctx is what the server's context factory returned for the request", async () => {
  const { open } = setup({
    context: (request) => ({ user: new URL(request.url).searchParams.get("user") }),
    generateId: () => "s-1",
  });
  const request = upgradeRequest("http://127.0.0.1/ws?user=ada");
  const { session } = await open({ request });
  assert.deepEqual(session.ctx, { user: "ada" });
  assert.equal(session.id, "s-1");
});

// ---------------------------------------------------------------- send and sendBinary

Deno.test("Session.sendBinary() sends the bytes as given", async () => {
  const { open } = setup();
  const { session, socket } = await open();
  const bytes = new Uint8Array([1, 2, 3]);
  assert.equal(session.sendBinary(bytes), "sent");
  assert.equal(socket.sent[0], bytes, "not copied");
  assert.equal(session.stats.bytesSent, 3);
});

Deno.test("Session.send() throws TypeError for data JSON cannot hold, and sends nothing", async () => {
  const { open } = setup();
  const { session, socket } = await open();
  assert.throws(() => session.send("t", 1n), TypeError);
  assert.deepEqual(socket.sent, []);
  assert.equal(session.state, "open");
});

Deno.test("Session.send() on a closing or closed session returns closed", async () => {
  const { open } = setup();
  const { session, socket } = await open({ closeReport: "manual" });
  session.close();
  assert.equal(session.send("t", 1), "closed");
  assert.equal(session.sendBinary(new Uint8Array(1)), "closed");
  socket.completeClose();
  assert.equal(session.send("t", 1), "closed");
  assert.deepEqual(socket.sent, []);
});

// ---------------------------------------------------------------- state, closed, closeCause

Deno.test("Session.state, closed and closeCause follow the close: open, closing, closed", async () => {
  const { open } = setup();
  const { session, socket } = await open({ closeReport: "manual" });
  assert.equal(session.state, "open");
  assert.equal(session.closed, false);
  const before = session.closeCause;
  assert.equal(before, undefined, "no cause while open");
  const closing = session.close(4000, "bye");
  assert.equal(session.state, "closing");
  assert.equal(session.closed, true);
  assert.equal(session.closeCause?.kind, "server");
  socket.completeClose();
  assert.equal(session.state, "closed");
  assert.equal(session.closed, true);
  assert.equal(session.closeCause, await closing);
});

// ---------------------------------------------------------------- close()

Deno.test("Session.close() called again returns the same promise and keeps the first cause", async () => {
  const { open, closes } = setup();
  const { session, socket } = await open({ closeReport: "manual" });
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
  const { session } = await open({ closeReport: "sync" });
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
      const other = (await open({ closeReport: "sync" })).session;
      assert.equal((await other.close(code, "é".repeat(61) + "x")).code, code);
    });
  }
  session.close();
});

Deno.test('Session.close("Kicked out") closes with 1000 and that reason', async () => {
  const { open, closes } = setup();
  const { session, socket } = await open({ closeReport: "manual" });
  const closing = session.close("Kicked out");
  assert.deepEqual(
    socket.closes,
    [{ code: 1000, reason: "Kicked out" }],
    "what the client is sent",
  );
  assert.equal(session.state, "closing");
  socket.completeClose();
  const cause = await closing;
  assert.deepEqual(cause, { kind: "server", code: 1000, reason: "Kicked out", rooms: new Set() });
  assert.deepEqual(closes, [cause]);
});

Deno.test('Session.close("Kicked out") reaches the runtime\'s WebSocket as 1000 and that reason', async () => {
  const { connect, closes } = setup();
  const { socket: ws, session } = await connect(); // asserts the 101
  const closing = session.close("Kicked out");
  assert.deepEqual(ws.closes, [{ code: 1000, reason: "Kicked out" }]);
  ws.fireClose(1000, "Kicked out");
  const cause = await closing;
  assert.equal(cause.kind, "server");
  assert.equal(cause.code, 1000);
  assert.equal(cause.reason, "Kicked out");
  assert.deepEqual(closes, [cause]);
});

Deno.test("Session.close(code, reason) still closes with the code and the reason given", async () => {
  const { open } = setup();
  const { session, socket } = await open({ closeReport: "sync" });
  const cause = await session.close(4001, "x");
  assert.deepEqual(socket.closes, [{ code: 4001, reason: "x" }]);
  assert.equal(cause.kind, "server");
  assert.equal(cause.code, 4001);
  assert.equal(cause.reason, "x");
});

Deno.test("Session.close() with a reason alone is held to the same rules as with a code", async (t) => {
  const { open } = setup();
  const { session, socket } = await open({ closeReport: "sync" });
  await t.step("a reason given twice throws TypeError", () => {
    assert.throws(() => session.close("a", "b"), TypeError);
  });
  await t.step("a reason alone of 124 UTF-8 bytes throws RangeError", () => {
    assert.throws(() => session.close("x".repeat(124)), RangeError);
    assert.throws(() => session.close("é".repeat(62)), RangeError, "62 characters, 124 bytes");
  });
  await t.step("a disallowed code with a reason throws RangeError", () => {
    assert.throws(() => session.close(1005, "x"), RangeError);
    assert.throws(() => session.close(5000, "x"), RangeError);
  });
  assert.equal(session.state, "open", "nothing refused closed it");
  assert.deepEqual(socket.closes, []);
  const cause = await session.close("é".repeat(61) + "x"); // 123 bytes: allowed
  assert.equal(cause.code, 1000);
  assert.deepEqual(socket.closes, [{ code: 1000, reason: "é".repeat(61) + "x" }]);
});

// ---------------------------------------------------------------- stats

Deno.test("Session.stats reports every counter", async () => {
  const { open } = setup({ highWaterMark: 10, maxQueueMessages: 4, overflow: "drop-oldest" });
  const { session, socket, connection } = await open();
  session.send("t", "a"); // sent
  connection.message('{"topic":"in"}');
  connection.message("not json"); // answered at once on "$error"
  connection.message(new Uint8Array(2));
  const reply = utf8Length(socket.sent[1] as string);
  socket.bufferedAmount = 10;
  for (const data of ["b", "c", "d", "e", "f"]) session.send("t", data); // the 5th drops "b"
  const frame = envelopeBytes("t", "a");
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

Deno.test("Session.stats keeps the queue peaks after the session closed", async () => {
  const peaks: number[] = [];
  const { open } = setup({
    highWaterMark: 10,
    onClose: (session) => void peaks.push(session.stats.queuePeakMessages),
  });
  const { session, socket } = await open({ closeReport: "sync" });
  socket.bufferedAmount = 10;
  session.send("t", 1);
  session.send("t", 2);
  session.close();
  assert.deepEqual(peaks, [2]);
  assert.equal(session.stats.queuePeakMessages, 2);
});
