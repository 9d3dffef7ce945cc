/**
 * The outbound side (`src/outbound.ts`), on the fake socket and fake
 * timers: direct writes under the high-water mark, the bounded send queue
 * and its drains (drain events, or the server's drain scheduler), the
 * overflow policies, drops and `onDrop`. Coalesced writes are in
 * `outbound_coalesce_test.ts`.
 */
import assert from "node:assert/strict";
import { CloseCode } from "../src/close_codes.ts";
import { QueueFullError } from "../src/errors.ts";
import type { DropInfo } from "../src/session.ts";
import { envelopeBytes, FakeSocket, setup } from "./_fake_socket.ts";

function sum(drops: DropInfo[], key: "messages" | "bytes" = "messages"): number {
  return drops.reduce((total, drop) => total + drop[key], 0);
}

// ---------------------------------------------------------------- direct writes and the queue

Deno.test("Outbound.offer() writes to the socket while it is under the high-water mark", async () => {
  const { open, server } = setup({ highWaterMark: 100 });
  const { session, socket } = await open();
  assert.equal(session.send("greet", { text: "hi" }), "sent");
  socket.bufferedAmount = 99;
  assert.equal(session.send("greet", 2), "sent");
  assert.deepEqual(socket.sent, [
    '{"topic":"greet","data":{"text":"hi"}}',
    '{"topic":"greet","data":2}',
  ]);
  const stats = session.stats;
  assert.equal(stats.messagesSent, 2);
  assert.equal(stats.bytesSent, envelopeBytes("greet", { text: "hi" }) + envelopeBytes("greet", 2));
  assert.equal(stats.messagesQueued, 0);
  assert.equal(server.stats.messagesSent, 2);
});

/** A fake socket nobody reads: its buffer grows by each frame; `reads` counts the reads of it. */
function unreadSocket(): { socket: FakeSocket; reads: () => number; seen: number[] } {
  const socket = new FakeSocket();
  let buffered = 0, reads = 0;
  const seen: number[] = []; // the buffer as each frame arrived
  Object.defineProperty(socket, "bufferedAmount", {
    get: () => (reads++, buffered),
    set: (value: number) => buffered = value,
  });
  socket.onSend = (data) => {
    seen.push(buffered);
    buffered += typeof data === "string" ? new TextEncoder().encode(data).length : data.byteLength;
  };
  return { socket, reads: () => reads, seen };
}

Deno.test("Outbound under sendsOnly reads the socket's buffer only near the high-water mark, and still queues there", async () => {
  const { open } = setup({ highWaterMark: 1000 });
  const { socket, reads, seen } = unreadSocket();
  const { session, connection } = await open({ socket, sendsOnly: true });
  const results = Array.from({ length: 100 }, (_, i) => session.send("n", i));
  const sent = results.indexOf("queued");
  assert.ok(sent > 30 && results.slice(sent).every((r) => r === "queued"), `queued from ${sent}`);
  assert.ok(seen.every((buffered) => buffered < 1000), "every frame went out under the mark");
  assert.ok(reads() < sent / 4, `${reads()} reads for ${sent} frames`);
  for (let drains = 0; session.stats.queueLength > 0 && drains < 10; drains++) {
    socket.bufferedAmount = 0; // the client read it all
    connection.drain();
  }
  assert.deepEqual(
    socket.data(),
    Array.from({ length: 100 }, (_, i) => i),
    "nothing lost, in order",
  );
  assert.ok(seen.every((buffered) => buffered < 1000), "the queue too went out under the mark");
});

Deno.test("Outbound without sendsOnly reads the socket's buffer for every frame", async () => {
  const { open } = setup({ highWaterMark: 1000 });
  const { socket, reads } = unreadSocket();
  const { session } = await open({ socket });
  for (let i = 0; i < 10; i++) session.send("n", i);
  assert.ok(reads() >= 10, `${reads()} reads`);
});

Deno.test("Outbound counts the UTF-8 bytes of text frames", async () => {
  const { open } = setup();
  const { session } = await open();
  session.send("t", "héllo 👋");
  assert.equal(session.stats.bytesSent, envelopeBytes("t", "héllo 👋"));
});

Deno.test("Outbound.offer() queues once the socket is at its high-water mark, and a drain flushes in order", async () => {
  const { open } = setup({ highWaterMark: 100 });
  const { session, socket, connection } = await open();
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

Deno.test("A drain writes only while the socket stays under the high-water mark", async () => {
  const { open } = setup({ highWaterMark: 50 });
  const { session, socket, connection } = await open();
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

Deno.test("A frame the runtime refuses is counted and reported as dropped", async () => {
  const { open, drops, server } = setup();
  const { session, socket } = await open({ sendStatus: 0 });
  assert.equal(session.send("t", 1), "dropped");
  assert.deepEqual(drops, [{ reason: "runtime", messages: 1, bytes: envelopeBytes("t", 1) }]);
  assert.equal(session.stats.messagesSent, 0);
  assert.equal(session.stats.messagesDropped, 1);
  assert.equal(server.stats.messagesDropped, 1);
  socket.sendStatus = 7;
  assert.equal(session.send("t", 2), "sent");
});

// ---------------------------------------------------------------- overflow policies and drops

Deno.test('Overflow policy "close" closes with 1013 and sends nothing after the decision', async () => {
  const { open, drops, closes, server, timers } = setup({ highWaterMark: 10, maxQueueMessages: 3 });
  const { session, socket, connection } = await open({ closeReport: "manual" });
  socket.bufferedAmount = 10;
  const bytes = envelopeBytes("n", 0);
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

Deno.test('Overflow policy "close" fires on the byte bound too', async () => {
  const { open } = setup({ highWaterMark: 10, maxQueueBytes: 100 });
  const { session, socket } = await open({ closeReport: "sync" });
  socket.bufferedAmount = 10;
  assert.equal(session.send("t", "x".repeat(60)), "queued");
  assert.equal(session.send("t", "y".repeat(60)), "dropped");
  assert.equal(session.state, "closed");
  assert.equal(session.closeCause?.kind, "overflow");
  assert.deepEqual(socket.closes.map((c) => c.code), [1013]);
});

Deno.test('Overflow policy "drop-oldest" delivers the newest frames after a drain', async () => {
  const { open, drops, server } = setup({
    highWaterMark: 10,
    maxQueueMessages: 3,
    overflow: "drop-oldest",
  });
  const { session, socket, connection } = await open();
  socket.bufferedAmount = 10;
  const offered = 8;
  const results = [];
  for (let i = 0; i < offered; i++) results.push(session.send("n", i));
  assert.deepEqual(results, Array(offered).fill("queued"));
  assert.equal(session.state, "open");
  const bytes = envelopeBytes("n", 0);
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

Deno.test('Overflow policy "drop-oldest" drops only as many bytes as the new frame needs', async () => {
  const { open, drops } = setup({ highWaterMark: 10, maxQueueBytes: 100, overflow: "drop-oldest" });
  const { session, socket, connection } = await open();
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

Deno.test('Overflow policy "drop-newest" keeps the oldest frames and drops the new ones', async () => {
  const { open, drops } = setup({
    highWaterMark: 10,
    maxQueueMessages: 3,
    overflow: "drop-newest",
  });
  const { session, socket, connection } = await open();
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
  const bytes = envelopeBytes("n", 0);
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

Deno.test("Every drop policy drops a message larger than maxQueueBytes without losing the queue", async (t) => {
  for (const overflow of ["drop-oldest", "drop-newest"] as const) {
    await t.step(overflow, async () => {
      const { open, drops } = setup({ highWaterMark: 10, maxQueueBytes: 100, overflow });
      const { session, socket, connection } = await open();
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

Deno.test("Closing drops what is still queued and reports it to onDrop", async () => {
  const { open, drops } = setup({ highWaterMark: 10 });
  const { session, socket } = await open({ closeReport: "sync" });
  socket.bufferedAmount = 10;
  session.send("t", 1);
  session.send("t", 2);
  session.close();
  assert.deepEqual(drops, [{ reason: "closed", messages: 2, bytes: 2 * envelopeBytes("t", 1) }]);
  assert.equal(session.stats.messagesDropped, 2);
  assert.deepEqual(socket.sent, []);
});

Deno.test("An onDrop hook that sends to the same session does not recurse", async () => {
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
  const { session, socket } = await open();
  socket.bufferedAmount = 10;
  session.send("t", 1);
  assert.equal(session.send("t", 2), "dropped");
  assert.deepEqual(errors, []);
  assert.equal(calls, 1, "the nested drop is counted, not reported again");
  assert.equal(session.stats.messagesDropped, 2);
});

// ---------------------------------------------------------------- the drain scheduler (no drain events)

Deno.test("The drain scheduler flushes sessions without drains on the server's timers", async () => {
  const { open, timers } = setup({ highWaterMark: 10 });
  const a = await open({ drains: false });
  const b = await open({ drains: false });
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

Deno.test("The drain scheduler leaves sessions with drains alone", async () => {
  const { open, timers } = setup({ highWaterMark: 10 });
  const { session, socket, connection } = await open({ drains: true });
  socket.bufferedAmount = 10;
  session.send("n", 1);
  assert.equal(timers.pending, 0);
  socket.bufferedAmount = 0;
  connection.drain();
  assert.deepEqual(socket.data(), [1]);
});

Deno.test("The drain scheduler stops when its last congested session closes", async () => {
  const { open, timers } = setup({ highWaterMark: 10 });
  const a = await open({ drains: false, closeReport: "sync" });
  const b = await open({ drains: false, closeReport: "sync" });
  a.socket.bufferedAmount = 10;
  b.socket.bufferedAmount = 10;
  a.session.send("n", 1);
  b.session.send("n", 2);
  a.session.close();
  assert.equal(timers.pending, 1, "b still needs it");
  b.connection.close(1000, "");
  assert.equal(timers.pending, 0);
});

Deno.test("The drain scheduler stops after its next poll when its only congested session is closing", async () => {
  const { open, timers } = setup({ highWaterMark: 10, closeTimeout: 60_000 });
  const a = await open({ drains: false, closeReport: "manual" });
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
