/**
 * The Bun adapter's `websocket` handlers (`src/adapters/bun.ts`) on a fake
 * Bun: opening a session, messages, the send queue against Bun's buffer
 * and drains, Bun's close codes and reasons, and shutdown. The `fetch`
 * side is in `bun_adapter_test.ts`.
 */
import assert from "node:assert/strict";
import type { CloseCause } from "../mod.ts";
import { bunRequest, endOfTick, setupBun } from "./_fake_socket.ts";

Deno.test("bunAdapter() websocket.open registers the session and calls onConnect", async () => {
  const sends: string[] = [];
  const { server, connect, connects } = setupBun({
    onConnect(session) {
      connects.push(session);
      sends.push(session.send("welcome", { user: session.ctx.user }));
    },
  });
  const { ws, session } = await connect("?user=ada");
  assert.equal(ws.binaryType, "uint8array");
  assert.equal(server.sessions.get(session.id), session);
  assert.equal(session.state, "open");
  assert.deepEqual(sends, ["sent"]);
  assert.deepEqual(ws.envelopes(), [{ topic: "welcome", data: { user: "ada" } }]);
});

Deno.test("bunAdapter() websocket.message routes text to onMessage and bytes to onBinary", async () => {
  const { connect, binaries, messages } = setupBun();
  const { ws, session } = await connect();
  ws.receive(JSON.stringify({ topic: "say", data: { text: "hi" } }));
  ws.receive(new Uint8Array([1, 2, 3]));
  ws.receive("not json");
  await endOfTick();
  assert.deepEqual(messages, [{ topic: "say", data: { text: "hi" } }]);
  assert.equal(binaries.length, 1);
  assert.ok(binaries[0] instanceof Uint8Array);
  assert.deepEqual([...binaries[0]], [1, 2, 3]);
  // The malformed envelope got the "$error" reply through Bun's send.
  assert.equal(ws.envelopes().at(-1)?.topic, "$error");
  assert.equal(session.stats.messagesReceived, 3);
  assert.equal(session.stats.invalidMessages, 1);
});

Deno.test("bunAdapter() queues above the high-water mark and flushes in order on drain", async () => {
  const { connect } = setupBun({ highWaterMark: 100 });
  const { ws, session } = await connect();
  ws.stalled = true; // the client reads nothing: Bun keeps every frame
  for (let i = 0; i < 5; i++) assert.equal(session.send("n", i), "sent");
  await endOfTick();
  assert.ok(ws.buffered >= 100, `Bun holds ${ws.buffered} bytes: the high-water mark or more`);
  assert.equal(session.send("n", 5), "queued");
  assert.equal(session.send("n", 6), "queued");
  assert.equal(session.stats.queueLength, 2);
  assert.deepEqual(ws.envelopes().map((e) => e.data), [0, 1, 2, 3, 4]);
  ws.drained();
  assert.equal(session.stats.queueLength, 0);
  assert.equal(session.send("n", 7), "sent");
  await endOfTick();
  assert.deepEqual(ws.envelopes().map((e) => e.data), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(session.stats.messagesDropped, 0);
});

Deno.test("bunAdapter() drain flushes only while Bun is under the high-water mark", async () => {
  const { connect } = setupBun({ highWaterMark: 100 });
  const { ws, session } = await connect();
  ws.stalled = true;
  for (let i = 0; i < 5; i++) session.send("f", i); // 120 bytes Bun keeps
  await endOfTick();
  for (let i = 0; i < 5; i++) assert.equal(session.send("n", i), "queued");
  const sentData = () => ws.envelopes().filter((e) => e.topic === "n").map((e) => e.data);
  // Bun wrote part of its buffer out and still holds 60 bytes: each 24-byte
  // frame goes out while Bun holds fewer than 100, then the rest wait.
  ws.buffered = 60;
  ws.drain();
  assert.deepEqual(sentData(), [0, 1]);
  assert.equal(session.stats.queueLength, 3);
  ws.drained();
  assert.deepEqual(sentData(), [0, 1, 2, 3, 4]);
  assert.equal(session.stats.queueLength, 0);
  assert.ok(!ws.statuses.includes(0), "Bun never dropped a frame the session sent");
});

Deno.test("bunAdapter() never lets Bun drop a frame the session sends", async () => {
  const { connect } = setupBun({ highWaterMark: 1000 });
  const { ws, session } = await connect();
  // Just under the mark: the session still writes, and Bun must not drop it
  // even though this frame takes its buffer past backpressureLimit.
  ws.buffered = 999;
  assert.equal(session.send("big", "x".repeat(5000)), "sent");
  await endOfTick();
  assert.equal(ws.statuses.at(-1), -1);
  assert.equal(session.send("next", 1), "queued");
  assert.ok(!ws.statuses.includes(0));
  assert.equal(session.stats.messagesDropped, 0);
});

Deno.test("bunAdapter() counts an empty binary message as sent, not dropped", async () => {
  const { connect } = setupBun();
  const { ws, session } = await connect();
  assert.equal(session.sendBinary(new Uint8Array(0)), "sent");
  await endOfTick();
  assert.equal(ws.statuses.at(-1), 0, "Bun reports 0 bytes written");
  assert.equal(session.stats.messagesDropped, 0);
  assert.equal(session.stats.messagesSent, 1);
});

Deno.test("bunAdapter() counts a send to a socket Bun already closed as a drop", async () => {
  const { connect, drops } = setupBun();
  const { ws, session } = await connect();
  ws.readyState = 3; // closed, but the close handler has not run yet
  // Accepted for this tick's corked write, which Bun then refuses: counted.
  assert.equal(session.sendBinary(new Uint8Array(0)), "sent");
  assert.equal(session.send("late", 1), "sent");
  await endOfTick();
  assert.deepEqual(drops.map((drop) => drop.reason), ["runtime"]);
  assert.equal(session.stats.messagesDropped, 2);
  assert.equal(session.stats.messagesSent, 0);
});

Deno.test("bunAdapter() websocket.close maps Bun's codes and reasons to close causes", async (t) => {
  const cases: [string, number, string, Partial<CloseCause>][] = [
    ["client close with code and reason", 4001, "bye", {
      kind: "client",
      code: 4001,
      reason: "bye",
    }],
    ["client close without a code", 1005, "", { kind: "client", code: 1005, reason: "" }],
    ["Bun's maxPayloadLength", 1006, "Received too big message", {
      kind: "too-large",
      code: 1009,
      reason: "Received too big message",
    }],
    ["Bun's idle timeout", 1006, "WebSocket timed out from inactivity", {
      kind: "timeout",
      code: 1006,
      reason: "WebSocket timed out from inactivity",
    }],
    ["Bun's protocol error", 1006, "Received invalid UTF-8", {
      kind: "error",
      code: 1006,
      reason: "Received invalid UTF-8",
    }],
    ["connection dropped", 1006, "", { kind: "error", code: 1006, reason: "" }],
  ];
  for (const [name, code, reason, expected] of cases) {
    await t.step(name, async () => {
      const { server, connect, closes } = setupBun();
      const { ws, session } = await connect();
      session.rooms.join("lobby");
      ws.closedBy(code, reason);
      assert.equal(closes.length, 1);
      const cause = closes[0];
      assert.equal(cause.kind, expected.kind);
      assert.equal(cause.code, expected.code);
      assert.equal(cause.reason, expected.reason);
      assert.equal(session.state, "closed");
      assert.equal(server.sessions.size, 0);
      assert.equal(server.rooms.size, 0);
      assert.equal(server.stats.tooLargeCloses, expected.kind === "too-large" ? 1 : 0);
      assert.deepEqual(await session.close(), cause);
    });
  }
});

Deno.test("bunAdapter() session.close() resolves at once because Bun closes synchronously", async () => {
  const { server, connect, closes } = setupBun();
  const { ws, session } = await connect();
  const cause = await session.close(4000, "done");
  assert.deepEqual(ws.closeCalls, [[4000, "done"]]);
  assert.equal(cause.kind, "server");
  assert.equal(cause.code, 4000);
  assert.equal(cause.reason, "done");
  assert.equal(cause.forced, undefined);
  assert.equal(closes.length, 1);
  assert.equal(server.sessions.size, 0);
});

Deno.test("bunAdapter() releases a session that onConnect closes", async () => {
  const { server, adapter, bun, closes, connects, messages } = setupBun({
    onConnect(session) {
      connects.push(session);
      session.close(4003, "not today");
    },
  });
  assert.equal(await adapter.fetch(bunRequest(), bun), undefined);
  const ws = bun.sockets[0];
  assert.deepEqual(ws.closeCalls, [[4003, "not today"]]);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].kind, "server");
  assert.equal(closes[0].forced, undefined);
  assert.equal(server.sessions.size, 0);
  assert.equal(connects[0].state, "closed");
  // Bun may still deliver events for the closed socket; they are ignored.
  ws.receive("{}");
  ws.drain();
  assert.equal(messages.length, 0);
});

Deno.test("bunAdapter() server.shutdown() closes every Bun socket with 1001 and resolves", async () => {
  const { server, adapter, bun, connect, closes } = setupBun();
  const a = await connect("?user=a");
  const b = await connect("?user=b");
  a.session.rooms.join("lobby");
  b.ws.stalled = true;
  b.session.send("fill", "x".repeat(server.limits.highWaterMark)); // Bun keeps it
  await endOfTick();
  assert.equal(b.session.send("stuck", 1), "queued"); // dropped by the close
  await server.shutdown();
  for (const { ws } of [a, b]) {
    assert.deepEqual(ws.closeCalls, [[1001, "Server shutting down"]]);
    assert.equal(ws.readyState, 3);
  }
  assert.deepEqual(closes.map((c) => [c.kind, c.code, c.forced]), [
    ["shutdown", 1001, undefined],
    ["shutdown", 1001, undefined],
  ]);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.rooms.size, 0);
  // New upgrades are refused, before Bun is asked.
  const response = (await adapter.fetch(bunRequest(), bun))!;
  assert.equal(response.status, 503);
  await response.body?.cancel();
  assert.equal(bun.upgrades.length, 2);
});

Deno.test("bunAdapter() closes a socket that opens while the server shuts down", async () => {
  const { server, adapter, bun, closes, connects } = setupBun();
  let shutdown: Promise<void> | undefined;
  bun.beforeOpen = () => {
    shutdown = server.shutdown(); // begins between the handshake and Bun's open
  };
  assert.equal(await adapter.fetch(bunRequest(), bun), undefined);
  await shutdown;
  assert.deepEqual(bun.sockets[0].closeCalls, [[1001, "Server shutting down"]]);
  assert.equal(connects.length, 0);
  assert.deepEqual(closes.map((c) => [c.kind, c.code, c.forced]), [[
    "shutdown",
    1001,
    undefined,
  ]]);
  assert.equal(server.sessions.size, 0);
});
