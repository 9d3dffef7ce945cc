/**
 * The Deno bridge (`src/deno.ts`) behind `server.fetch()`, with an injected
 * fake upgrade and a fake `WebSocket`: plain requests, the 101, the
 * socket's `open`, `message` and `close` events, a close before `open`,
 * Deno's close codes and reasons, and an upgrade that throws.
 */
import assert from "node:assert/strict";
import { CLIENT, setup, upgradeRequest } from "./_fake_socket.ts";

// ---------------------------------------------------------------- plain requests

Deno.test("Server.fetch() answers 426 with upgrade: websocket to a plain request", async () => {
  const { server, calls } = setup();
  const response = await server.fetch(new Request("http://127.0.0.1/"));
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("upgrade"), "websocket");
  await response.body?.cancel();
  assert.equal(calls.length, 0);
  assert.equal(server.stats.rejected, 0, "not an upgrade: not a rejection");
});

Deno.test("Server.fetch() hands a plain request to the fallback", async () => {
  const seen: [Request, unknown][] = [];
  const { server } = setup({
    fallback: (request, info) => {
      seen.push([request, info]);
      return Promise.resolve(new Response("home", { status: 200 }));
    },
  });
  const request = new Request("http://127.0.0.1/");
  const info = { remoteAddr: { hostname: "127.0.0.1", port: 5, transport: "tcp" } };
  const response = await server.fetch(request, info);
  assert.equal(await response.text(), "home");
  assert.deepEqual(seen, [[request, info]]);
});

Deno.test("Server.fetch() treats the upgrade header case-insensitively", async () => {
  const { server, calls } = setup();
  const response = await server.fetch(upgradeRequest(undefined, { upgrade: "WebSocket" }), CLIENT);
  assert.equal(response.status, 101);
  assert.equal(calls.length, 1);
});

// ---------------------------------------------------------------- the socket's events

Deno.test("Server.fetch() answers an accepted upgrade with the upgrade's 101 and opens the session on open", async () => {
  const { server, calls, connects } = setup({
    context: (request) => ({ path: new URL(request.url).pathname }),
    idleTimeout: 12,
  });
  const request = upgradeRequest("http://127.0.0.1/room");
  const response = await server.fetch(request, CLIENT);
  assert.equal(response, calls[0].response);
  assert.equal(calls[0].request, request);
  assert.deepEqual(calls[0].options, { protocol: undefined, idleTimeout: 12 });
  const socket = calls[0].socket;
  assert.equal(socket.binaryType, "arraybuffer");
  assert.equal(server.sessions.size, 0, "no session before open");
  assert.equal(server.stats.handshakes, 1);
  socket.fireOpen();
  assert.equal(server.sessions.size, 1);
  assert.equal(server.stats.handshakes, 0);
  const session = [...server.sessions.values()][0];
  assert.deepEqual(session.ctx, { path: "/room" });
  assert.deepEqual(connects.map((s) => s.ctx), [{ path: "/room" }]);
  assert.equal(server.sessions.get(session.id), session);
  session.close();
  socket.fireClose(1000);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A WebSocket's messages reach the session and the session's sends reach the WebSocket", async () => {
  const { connect, messages, binaries } = setup();
  const { socket, session } = await connect();
  socket.fireMessage('{"topic":"hi","data":1}');
  socket.fireMessage(new Uint8Array([1, 2]).buffer);
  assert.deepEqual(messages, [{ topic: "hi", data: 1 }]);
  assert.deepEqual(binaries, [new Uint8Array([1, 2])]);
  session.send("out", 2);
  assert.deepEqual(socket.sent, ['{"topic":"out","data":2}']);
});

Deno.test("A WebSocket closed by Deno's idle timeout (no pong) reports kind timeout", async () => {
  const { server, closes, connect } = setup();
  const { socket } = await connect();
  // Deno's idle timeout: an error event, then an unclean close with this reason.
  socket.fireError("No response from ping frame.");
  socket.fireClose(1001, "No response from ping frame.", false);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].kind, "timeout");
  assert.equal(closes[0].code, 1001);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A WebSocket closed without a close frame (Deno's code 0) reports 1006, kind error", async () => {
  const { calls, closes, connect } = setup();
  await connect();
  calls[0].socket.fireClose(0, "", false);
  assert.deepEqual([closes[0].kind, closes[0].code], ["error", 1006]);
});

Deno.test("A WebSocket's clean close reports the client's code and reason", async () => {
  const { calls, closes, connect } = setup();
  await connect();
  calls[0].socket.fireClose(4001, "No response from ping frame.");
  assert.deepEqual([closes[0].kind, closes[0].code], ["client", 4001]);
  assert.equal(closes[0].reason, "No response from ping frame.");
});

Deno.test("A WebSocket that closes before it opens abandons its handshake and never makes a session", async () => {
  const { server, calls, connect } = setup({ maxSessions: 1 });
  await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(server.stats.handshakes, 1);
  calls[0].socket.fireError("handshake failed");
  calls[0].socket.fireClose(1006);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.opened, 0);
  assert.equal(server.stats.handshakes, 0);
  await connect(); // its place under maxSessions: 1 is free again
  assert.equal(server.sessions.size, 1);
});

Deno.test("A handshake whose socket never opens is given back after handshakeTimeout", async () => {
  // Deno reports nothing for a client gone before or during the 101.
  const { server, timers, calls, connect } = setup({ maxSessions: 1, handshakeTimeout: 500 });
  assert.equal((await server.fetch(upgradeRequest(), CLIENT)).status, 101);
  assert.deepEqual([server.stats.handshakes, server.stats.abandoned], [1, 0]);
  const refused = await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(refused.status, 503, "its place under maxSessions: 1 is taken");
  timers.tick(499);
  assert.equal(server.stats.handshakes, 1);
  timers.tick(1);
  assert.deepEqual([server.stats.handshakes, server.stats.abandoned], [0, 1]);
  // A socket that opens after all holds no place: it is closed, and no session opens.
  calls[0].socket.fireOpen();
  assert.deepEqual(calls[0].socket.closes, [{ code: 1013, reason: "Handshake expired" }]);
  assert.equal(server.stats.opened, 0);
  await connect(); // the one place is free
  assert.equal(server.sessions.size, 1);
  assert.equal(timers.pending, 0, "an opened socket's expiry is cleared");
});

// ---------------------------------------------------------------- an upgrade that fails

Deno.test("Server.fetch() answers 400 when the upgrade throws, and reports it to onError and onRefuse", async () => {
  const failure = new TypeError("Invalid Header: 'sec-websocket-key' header must be set");
  const { server, errors, refusals } = setup({
    maxSessions: 1,
    upgrade: () => {
      throw failure;
    },
  });
  const request = upgradeRequest();
  const response = await server.fetch(request, CLIENT);
  assert.equal(response.status, 400);
  assert.match(await response.text(), /sec-websocket-key/);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.rejected, 1);
  assert.deepEqual(errors, [{ error: failure, session: undefined, request }]);
  assert.deepEqual(refusals, [[request, {
    status: 400,
    reason: "upgrade-failed",
    message: `Bad WebSocket handshake: ${failure.message}`,
  }]]);
  // The admission is back: the one place under maxSessions: 1 is free.
  assert.equal(server.stats.handshakes, 0);
  const handshake = await server.handshake(upgradeRequest(), CLIENT);
  assert.ok(!(handshake instanceof Response));
});
