/**
 * `server.shutdown()` (`src/server.ts`), on fake timers and fake sockets:
 * every session is closed with 1001 (or the code given), new upgrades get
 * 503, and the promise resolves once all are closed or the timeout passed.
 */
import assert from "node:assert/strict";
import {
  CLIENT,
  endOfTick,
  FakeSocket,
  openSession,
  setup,
  upgradeRequest,
} from "./_fake_socket.ts";

Deno.test("Server.shutdown() closes every session with 1001 and resolves once all are closed", async () => {
  const { server, timers, closes } = setup();
  const a = await openSession(server, { closeReport: "manual" });
  const b = await openSession(server, { closeReport: "manual" });
  let done = false;
  const shutdown = server.shutdown().then(() => done = true);
  assert.equal(server.shuttingDown, true);
  assert.deepEqual(a.socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.deepEqual(b.socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.equal(a.session.state, "closing");

  a.socket.completeClose(1001, "Server shutting down");
  await endOfTick();
  await endOfTick();
  assert.equal(done, false, "one session is still closing");
  b.socket.completeClose();
  await shutdown;
  assert.equal(server.sessions.size, 0);
  assert.deepEqual(closes.map((c) => [c.kind, c.code, c.forced]), [
    ["shutdown", 1001, undefined],
    ["shutdown", 1001, undefined],
  ]);
  assert.equal(timers.pending, 0);
  assert.equal(server.shutdown(), server.shutdown(), "the same promise");
});

Deno.test("Server.shutdown() refuses new upgrades with 503", async () => {
  const { server, calls } = setup();
  await server.shutdown();
  const response = await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(response.status, 503);
  await response.body?.cancel();
  assert.equal(calls.length, 0);
  const handshake = await server.handshake(upgradeRequest());
  assert.ok(handshake instanceof Response);
  assert.equal(handshake.status, 503);
  await handshake.body?.cancel();
  assert.equal(server.stats.rejected, 2);
  const plain = await server.fetch(new Request("http://127.0.0.1/"));
  assert.equal(plain.status, 426, "plain requests still get their answer");
  await plain.body?.cancel();
});

Deno.test("Server.shutdown() refuses an upgrade whose context factory finished after it began", async () => {
  const { promise: gate, resolve } = Promise.withResolvers<void>();
  const { server, calls } = setup({
    context: async () => {
      await gate;
      return { user: "late" };
    },
  });
  const pending = server.fetch(upgradeRequest(), CLIENT);
  const shutdown = server.shutdown();
  resolve();
  const response = await pending;
  assert.equal(response.status, 503);
  await response.body?.cancel();
  assert.equal(calls.length, 0);
  assert.equal(server.stats.handshakes, 0, "its admission is back");
  await shutdown;
});

Deno.test("Server.open() during shutdown closes the new session at once with 1001", async () => {
  const { server, accept, connects } = setup();
  const handshake = await accept();
  await server.shutdown();
  const socket = new FakeSocket();
  socket.connection = server.open(socket, handshake);
  assert.deepEqual(socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.equal(connects.length, 0);
  socket.completeClose(1001, "Server shutting down");
  assert.equal(server.sessions.size, 0);
});

Deno.test("Server.shutdown() releases the rest, forced, after its timeout", async () => {
  const { server, timers, closes } = setup({ closeTimeout: 60_000 });
  const polite = await openSession(server, { closeReport: "manual" });
  const silent = await openSession(server, { closeReport: "manual" });
  let done = false;
  const shutdown = server.shutdown({ code: 4001, reason: "maintenance", timeout: 100 }).then(() =>
    done = true
  );
  assert.deepEqual(silent.socket.closes, [{ code: 4001, reason: "maintenance" }]);
  polite.socket.completeClose();
  timers.tick(99);
  await endOfTick();
  assert.equal(done, false);
  timers.tick(1);
  await shutdown;
  assert.equal(server.sessions.size, 0);
  assert.equal(silent.session.state, "closed");
  const rooms = new Set<string>();
  assert.deepEqual(closes, [
    { kind: "shutdown", code: 4001, reason: "maintenance", rooms },
    { kind: "shutdown", code: 4001, reason: "maintenance", forced: true, rooms },
  ]);
  assert.equal(timers.pending, 0, "close timers and the shutdown timer are cleared");
});

Deno.test("Server.shutdown() with sessions that close inside close() resolves without waiting", async () => {
  const { server, timers } = setup();
  await openSession(server, { closeReport: "sync" });
  await openSession(server, { closeReport: "sync" });
  await server.shutdown();
  assert.equal(server.sessions.size, 0);
  assert.equal(timers.pending, 0);
});

Deno.test("Server.shutdown() stops the drain scheduler", async () => {
  const { server, timers } = setup({ highWaterMark: 10 });
  const { session, socket } = await openSession(server, { drains: false, closeReport: "sync" });
  socket.bufferedAmount = 10;
  session.send("t", 1);
  assert.equal(timers.pending, 1);
  await server.shutdown();
  assert.equal(timers.pending, 0);
});

Deno.test("Server.shutdown() with no sessions resolves at once", async () => {
  const { server, timers } = setup();
  await server.shutdown();
  assert.equal(timers.pending, 0);
});
