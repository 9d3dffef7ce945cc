import assert from "node:assert/strict";
import { HttpError } from "../src/errors.ts";
import { Server, type ServerOptions, type Timers } from "../src/server.ts";
import type { CloseCause } from "../src/session.ts";
import type { EventMap } from "../src/topics.ts";
import {
  FakeTimers,
  fakeUpgrade,
  type FakeWebSocket,
  openSession,
  upgradeRequest,
} from "./_fake_socket.ts";

type Options<Ctx> = ServerOptions<Ctx, EventMap, EventMap>;

/** A server with a fake upgrade and fake timers; hook failures land in `errors`. */
function setup<Ctx = undefined>(options: Options<Ctx> = {}) {
  const timers = new FakeTimers();
  const fake = fakeUpgrade();
  const errors: unknown[] = [];
  const server = new Server<Ctx, EventMap, EventMap>({
    timers,
    upgrade: fake.upgrade,
    onError: (error) => void errors.push(error),
    ...options,
  });
  return { server, timers, calls: fake.calls, errors };
}

/** Upgrades through `fetch` and fires `open`; returns the fake socket and the session. */
async function connect<Ctx>(
  server: Server<Ctx, EventMap, EventMap>,
  calls: { socket: FakeWebSocket }[],
  request = upgradeRequest(),
) {
  const response = await server.fetch(request);
  assert.equal(response.status, 101);
  const socket = calls.at(-1)!.socket;
  const before = new Set(server.sessions.values());
  socket.fireOpen();
  const session = [...server.sessions.values()].find((s) => !before.has(s))!;
  assert.ok(session, "a session opened");
  return { socket, session, response };
}

// ---------------------------------------------------------------- the request gate

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
  const response = await server.fetch(upgradeRequest(undefined, { upgrade: "WebSocket" }));
  assert.equal(response.status, 101);
  assert.equal(calls.length, 1);
});

Deno.test("Server.fetch() answers an accepted upgrade with the upgrade's 101 and opens the session on open", async () => {
  const connected: unknown[] = [];
  const { server, calls } = setup({
    context: (request) => ({ path: new URL(request.url).pathname }),
    onConnect: (session) => void connected.push(session.ctx),
    idleTimeout: 12,
  });
  const request = upgradeRequest("http://127.0.0.1/room");
  const response = await server.fetch(request);
  assert.equal(response, calls[0].response);
  assert.equal(calls[0].request, request);
  assert.deepEqual(calls[0].options, { protocol: undefined, idleTimeout: 12 });
  const socket = calls[0].socket;
  assert.equal(socket.binaryType, "arraybuffer");
  assert.equal(server.sessions.size, 0, "no session before open");
  socket.fireOpen();
  assert.equal(server.sessions.size, 1);
  const session = [...server.sessions.values()][0];
  assert.deepEqual(session.ctx, { path: "/room" });
  assert.deepEqual(connected, [{ path: "/room" }]);
  assert.equal(server.sessions.get(session.id), session);
  session.close();
  socket.fireClose(1000);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A WebSocket's events reach the session: messages and close", async () => {
  const messages: unknown[] = [];
  const binaries: Uint8Array[] = [];
  const closes: CloseCause[] = [];
  const { server, calls } = setup({
    onMessage: (_, message) => void messages.push(message),
    onBinary: (_, data) => void binaries.push(data),
    onClose: (_, cause) => void closes.push(cause),
  });
  const { socket, session } = await connect(server, calls);
  socket.fireMessage('{"topic":"hi","data":1}');
  socket.fireMessage(new Uint8Array([1, 2]).buffer);
  assert.deepEqual(messages, [{ topic: "hi", data: 1 }]);
  assert.deepEqual(binaries, [new Uint8Array([1, 2])]);
  session.send("out", 2);
  assert.deepEqual(socket.sent, ['{"topic":"out","data":2}']);
  // Deno's idle timeout: an error event, then an unclean close with this reason.
  socket.fireError("No response from ping frame.");
  socket.fireClose(1001, "No response from ping frame.", false);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].kind, "timeout");
  assert.equal(closes[0].code, 1001);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A WebSocket closed without a close frame (Deno's code 0) reports 1006, kind error", async () => {
  const closes: CloseCause[] = [];
  const { server, calls } = setup({ onClose: (_, cause) => void closes.push(cause) });
  await connect(server, calls);
  calls[0].socket.fireClose(0, "", false);
  assert.deepEqual([closes[0].kind, closes[0].code], ["error", 1006]);
});

Deno.test("A WebSocket's clean close reports the client's code and reason", async () => {
  const closes: CloseCause[] = [];
  const { server, calls } = setup({ onClose: (_, cause) => void closes.push(cause) });
  await connect(server, calls);
  calls[0].socket.fireClose(4001, "No response from ping frame.");
  assert.deepEqual([closes[0].kind, closes[0].code], ["client", 4001]);
});

Deno.test("A WebSocket that fails before open never makes a session", async () => {
  const { server, calls } = setup();
  await server.fetch(upgradeRequest());
  calls[0].socket.fireError("handshake failed");
  calls[0].socket.fireClose(1006);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.opened, 0);
});

Deno.test("Server.fetch() answers 400 when the upgrade throws", async () => {
  const { server } = setup({
    upgrade: () => {
      throw new TypeError("Invalid Header: 'sec-websocket-key' header must be set");
    },
  });
  const response = await server.fetch(upgradeRequest());
  assert.equal(response.status, 400);
  assert.match(await response.text(), /sec-websocket-key/);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.rejected, 1);
});

// ---------------------------------------------------------------- the context factory

Deno.test("A context factory throwing HttpError(403) gives 403 and no session", async () => {
  let connected = 0;
  const { server, calls } = setup({
    context() {
      throw new HttpError(403, "Unknown token");
    },
    onConnect: () => void connected++,
  });
  const response = await server.fetch(upgradeRequest());
  assert.equal(response.status, 403);
  assert.equal(await response.text(), "Unknown token");
  assert.equal(calls.length, 0, "no upgrade");
  assert.equal(server.sessions.size, 0);
  assert.equal(connected, 0);
  assert.equal(server.stats.rejected, 1);
  assert.equal(server.stats.opened, 0);
});

Deno.test("A context factory throwing a plain Error gives 401 without its message", async () => {
  const { server, calls } = setup({
    context() {
      throw new Error("secret detail");
    },
  });
  const response = await server.fetch(upgradeRequest());
  assert.equal(response.status, 401);
  assert.doesNotMatch(await response.text(), /secret detail/);
  assert.equal(calls.length, 0);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A context factory rejecting gives its HttpError status, else 401", async (t) => {
  await t.step("HttpError(429)", async () => {
    const { server } = setup({ context: () => Promise.reject(new HttpError(429)) });
    const response = await server.fetch(upgradeRequest());
    assert.equal(response.status, 429);
    await response.body?.cancel();
  });
  await t.step("a string", async () => {
    const { server } = setup({ context: () => Promise.reject("nope") });
    const response = await server.fetch(upgradeRequest());
    assert.equal(response.status, 401);
    await response.body?.cancel();
  });
});

Deno.test("A context factory returning a Response gives that response and no session", async () => {
  const refusal = new Response("go away", { status: 418, headers: { "x-why": "teapot" } });
  const { server, calls } = setup({ context: () => refusal });
  const response = await server.fetch(upgradeRequest());
  assert.equal(response, refusal);
  assert.equal(calls.length, 0);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.rejected, 1);
  await response.body?.cancel();
});

Deno.test("An async context factory runs to completion before the upgrade", async () => {
  const { promise: token, resolve } = Promise.withResolvers<string>();
  const { server, calls } = setup({
    context: async (request) => ({ user: await token, url: request.url }),
  });
  const pending = server.fetch(upgradeRequest("http://127.0.0.1/x"));
  await Promise.resolve();
  assert.equal(calls.length, 0, "no upgrade while the factory runs");
  resolve("ada");
  assert.equal((await pending).status, 101);
  calls[0].socket.fireOpen();
  const session = [...server.sessions.values()][0];
  assert.deepEqual(session.ctx, { user: "ada", url: "http://127.0.0.1/x" });
});

Deno.test("The context factory receives the request and the serve info", async () => {
  const seen: unknown[] = [];
  const { server } = setup({ context: (request, info) => void seen.push(request, info) });
  const request = upgradeRequest();
  const info = { remoteAddr: { hostname: "10.0.0.1", port: 1234, transport: "tcp" } };
  await server.handshake(request, info);
  assert.deepEqual(seen, [request, info]);
  await server.fetch(request);
  assert.deepEqual(seen[3], {}, "fetch passes {} without info");
});

Deno.test("Server.handshake() returns the ctx and the protocol without upgrading", async () => {
  const { server, calls } = setup({ context: () => ({ n: 1 }), protocols: ["v1"] });
  const handshake = await server.handshake(
    upgradeRequest(undefined, { "sec-websocket-protocol": "v1" }),
  );
  assert.ok(!(handshake instanceof Response));
  assert.deepEqual([handshake.ctx, handshake.protocol], [{ n: 1 }, "v1"]);
  assert.equal(calls.length, 0);
  assert.equal(server.sessions.size, 0);
});

// ---------------------------------------------------------------- subprotocols

Deno.test("The server chooses its most preferred subprotocol among those the client offers", async (t) => {
  const table: [readonly string[] | undefined, string | undefined, string | undefined][] = [
    [["v2", "v1"], "v1, v2", "v2"],
    [["v2", "v1"], "v1", "v1"],
    [["v2", "v1"], "v3", undefined],
    [["v2", "v1"], undefined, undefined],
    [undefined, "v1, v2", undefined],
    [["chat"], "  chat ,superchat", "chat"],
    [["Chat"], "chat", undefined],
  ];
  for (const [protocols, offered, chosen] of table) {
    await t.step(
      `server ${JSON.stringify(protocols)}, client ${JSON.stringify(offered)}`,
      async () => {
        const { server, calls } = setup({ protocols });
        const headers: Record<string, string> = offered === undefined
          ? {}
          : { "sec-websocket-protocol": offered };
        const handshake = await server.handshake(upgradeRequest(undefined, headers));
        assert.ok(!(handshake instanceof Response));
        assert.equal(handshake.protocol, chosen);
        await server.fetch(upgradeRequest(undefined, headers));
        assert.equal(calls[0].options.protocol, chosen);
      },
    );
  }
});

// ---------------------------------------------------------------- publish and broadcast

function counted<T>(value: T) {
  const data = { calls: 0, toJSON: () => (data.calls++, value) };
  return data;
}

Deno.test("Server.publish() encodes once and reports sent and queued", () => {
  const { server } = setup({ highWaterMark: 10 });
  const members = [openSession(server), openSession(server), openSession(server)];
  const outsider = openSession(server);
  for (const { session } of members) session.rooms.join("room");
  members[2].socket.bufferedAmount = 10;
  const data = counted({ text: "hi" });
  const result = server.publish("room", "chat", data);
  assert.equal(data.calls, 1, "one serialization for every member");
  assert.deepEqual(result, { recipients: 3, sent: 2, queued: 1, dropped: 0, closed: 0 });
  const frame = '{"topic":"chat","data":{"text":"hi"}}';
  assert.deepEqual(members[0].socket.sent, [frame]);
  assert.deepEqual(members[1].socket.sent, [frame]);
  assert.deepEqual(outsider.socket.sent, []);
  members[2].socket.bufferedAmount = 0;
  members[2].connection.drain();
  assert.deepEqual(members[2].socket.sent, [frame]);
  assert.equal(members[0].socket.sent[0], members[1].socket.sent[0], "the same string");
});

Deno.test("Server.publish() reports drops by the overflow policy", () => {
  const { server } = setup({ highWaterMark: 10, maxQueueMessages: 1, overflow: "drop-newest" });
  const a = openSession(server);
  const b = openSession(server);
  a.session.rooms.join("room");
  b.session.rooms.join("room");
  a.socket.bufferedAmount = 10;
  b.socket.bufferedAmount = 10;
  a.session.send("fill", 0);
  const result = server.publish("room", "t", 1);
  assert.deepEqual(result, { recipients: 2, sent: 0, queued: 1, dropped: 1, closed: 0 });
  assert.equal(server.stats.messagesDropped, 1);
});

Deno.test("Server.publish() leaves out the sessions in except", async (t) => {
  const { server } = setup();
  const opened = [openSession(server), openSession(server), openSession(server)];
  for (const { session } of opened) session.rooms.join("room");
  const [a, b, c] = opened.map((o) => o.session);
  await t.step("one session", () => {
    assert.deepEqual(server.publish("room", "t", 1, { except: a }), {
      recipients: 2,
      sent: 2,
      queued: 0,
      dropped: 0,
      closed: 0,
    });
  });
  await t.step("an array", () => {
    assert.equal(server.publish("room", "t", 2, { except: [a, b] }).recipients, 1);
  });
  await t.step("a Set, and sessions outside the room", () => {
    const outsider = openSession(server).session;
    assert.equal(server.publish("room", "t", 3, { except: new Set([c, outsider]) }).recipients, 2);
  });
  await t.step("an empty array", () => {
    assert.equal(server.publish("room", "t", 4, { except: [] }).recipients, 3);
  });
  assert.deepEqual(opened.map((o) => o.socket.data()), [[3, 4], [1, 3, 4], [1, 2, 4]]);
});

Deno.test("Server.publish() to an empty room reaches nobody and encodes nothing", () => {
  const { server } = setup();
  openSession(server);
  const data = counted(1);
  assert.deepEqual(server.publish("nobody-here", "t", data), {
    recipients: 0,
    sent: 0,
    queued: 0,
    dropped: 0,
    closed: 0,
  });
  assert.equal(data.calls, 0);
});

Deno.test("Server.publish() throws TypeError for data JSON cannot hold, and sends nothing", () => {
  const { server } = setup();
  const { session, socket } = openSession(server);
  session.rooms.join("room");
  assert.throws(() => server.publish("room", "t", { n: 1n }), TypeError);
  assert.deepEqual(socket.sent, []);
});

Deno.test("Server.publishBinary() hands the same bytes to every member", () => {
  const { server } = setup();
  const a = openSession(server);
  const b = openSession(server);
  a.session.rooms.join("room");
  b.session.rooms.join("room");
  const bytes = new Uint8Array([1, 2, 3]);
  const result = server.publishBinary("room", bytes, { except: b.session });
  assert.equal(result.sent, 1);
  assert.equal(a.socket.sent[0], bytes);
  assert.deepEqual(b.socket.sent, []);
  assert.equal(server.publishBinary("empty", bytes).recipients, 0);
});

Deno.test("Server.broadcast() reaches every session, encodes once, and counts closing ones", () => {
  const { server } = setup({ highWaterMark: 10 });
  const a = openSession(server);
  const b = openSession(server);
  const closing = openSession(server, { closeReport: "manual" });
  const skipped = openSession(server);
  b.socket.bufferedAmount = 10;
  closing.session.close();
  const data = counted("all");
  const result = server.broadcast("news", data, { except: skipped.session });
  assert.equal(data.calls, 1);
  assert.deepEqual(result, { recipients: 3, sent: 1, queued: 1, dropped: 0, closed: 1 });
  assert.deepEqual(a.socket.data(), ["all"]);
  assert.deepEqual(closing.socket.sent, []);
  assert.deepEqual(skipped.socket.sent, []);
  closing.socket.completeClose();
});

Deno.test("Server.sendTo() sends to the sessions given, encoding once", () => {
  const { server } = setup({ highWaterMark: 10 });
  const a = openSession(server);
  const b = openSession(server);
  const c = openSession(server, { closeReport: "manual" });
  const d = openSession(server);
  b.socket.bufferedAmount = 10;
  c.session.close();
  const data = counted("dm");
  const result = server.sendTo([a.session, b.session, c.session, d.session], "t", data, {
    except: d.session,
  });
  assert.equal(data.calls, 1);
  assert.deepEqual(result, { recipients: 3, sent: 1, queued: 1, dropped: 0, closed: 1 });
  assert.deepEqual(a.socket.data(), ["dm"]);
  assert.deepEqual(d.socket.sent, []);
  assert.deepEqual(server.sendTo(new Set([a.session]), "t", 2).sent, 1);
  assert.deepEqual(a.socket.data(), ["dm", 2]);
  c.socket.completeClose();
});

Deno.test("Server.broadcast() with no sessions encodes nothing", () => {
  const { server } = setup();
  const data = counted(1);
  assert.equal(server.broadcast("t", data).recipients, 0);
  assert.equal(data.calls, 0);
});

// ---------------------------------------------------------------- shutdown

Deno.test("Server.shutdown() closes every session with 1001 and resolves once all are closed", async () => {
  const closes: CloseCause[] = [];
  const { server, calls, timers } = setup({ onClose: (_, cause) => void closes.push(cause) });
  const a = await connect(server, calls);
  const b = openSession(server, { closeReport: "manual" });
  let done = false;
  const shutdown = server.shutdown().then(() => done = true);
  assert.equal(server.shuttingDown, true);
  assert.deepEqual(a.socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.deepEqual(b.socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.equal(a.session.state, "closing");

  a.socket.fireClose(1001, "Server shutting down");
  await Promise.resolve();
  await Promise.resolve();
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
  const response = await server.fetch(upgradeRequest());
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
  const pending = server.fetch(upgradeRequest());
  const shutdown = server.shutdown();
  resolve();
  const response = await pending;
  assert.equal(response.status, 503);
  await response.body?.cancel();
  assert.equal(calls.length, 0);
  await shutdown;
});

Deno.test("A socket that opens during shutdown is closed at once with 1001", async () => {
  let connected = 0;
  const { server, calls } = setup({ onConnect: () => void connected++ });
  await server.fetch(upgradeRequest());
  await server.shutdown();
  const socket = calls[0].socket;
  socket.fireOpen();
  assert.deepEqual(socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.equal(connected, 0);
  socket.fireClose(1001, "Server shutting down");
  assert.equal(server.sessions.size, 0);
});

Deno.test("Server.shutdown() releases the rest, forced, after its timeout", async () => {
  const closes: CloseCause[] = [];
  const { server, timers } = setup({
    closeTimeout: 60_000,
    onClose: (_, cause) => void closes.push(cause),
  });
  const polite = openSession(server, { closeReport: "manual" });
  const silent = openSession(server, { closeReport: "manual" });
  let done = false;
  const shutdown = server.shutdown({ code: 4001, reason: "maintenance", timeout: 100 }).then(() =>
    done = true
  );
  assert.deepEqual(silent.socket.closes, [{ code: 4001, reason: "maintenance" }]);
  polite.socket.completeClose();
  timers.tick(99);
  await Promise.resolve();
  assert.equal(done, false);
  timers.tick(1);
  await shutdown;
  assert.equal(server.sessions.size, 0);
  assert.equal(silent.session.state, "closed");
  assert.deepEqual(closes, [
    { kind: "shutdown", code: 4001, reason: "maintenance" },
    { kind: "shutdown", code: 4001, reason: "maintenance", forced: true },
  ]);
  assert.equal(timers.pending, 0, "close timers and the shutdown timer are cleared");
});

Deno.test("Server.shutdown() with sessions that close inside close() resolves without waiting", async () => {
  const { server, timers } = setup();
  openSession(server, { closeReport: "sync" });
  openSession(server, { closeReport: "sync" });
  await server.shutdown();
  assert.equal(server.sessions.size, 0);
  assert.equal(timers.pending, 0);
});

Deno.test("Server.shutdown() stops the drain scheduler", async () => {
  const { server, timers } = setup({ highWaterMark: 10 });
  const { session, socket } = openSession(server, { drains: false, closeReport: "sync" });
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

// ---------------------------------------------------------------- registry, ids, stats, options

Deno.test("Session ids are unique UUIDs by default", () => {
  const { server } = setup();
  const ids = Array.from({ length: 200 }, () => openSession(server).session.id);
  assert.equal(new Set(ids).size, 200);
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.equal(server.sessions.size, 200);
  for (const id of ids) assert.equal(server.sessions.get(id)?.id, id);
});

Deno.test("Session ids come from generateId when given", () => {
  let n = 0;
  const { server } = setup({ generateId: () => `s${++n}` });
  const a = openSession(server).session;
  const b = openSession(server).session;
  assert.equal(a.id, "s1");
  assert.equal(b.id, "s2");
  assert.equal(server.sessions.get("s2"), b);
});

Deno.test("Server.stats counts sessions, rooms and traffic", () => {
  const { server } = setup({
    highWaterMark: 10,
    maxQueueMessages: 1,
    maxMessageBytes: 100,
    invalidMessage: "ignore",
  });
  const a = openSession(server, { closeReport: "sync" });
  const b = openSession(server, { closeReport: "sync" });
  const c = openSession(server, { closeReport: "sync" });
  a.session.rooms.join("x");
  b.session.rooms.join("y");
  a.session.send("t", 1);
  a.connection.message('{"topic":"in"}');
  a.connection.message("junk");
  b.connection.message("x".repeat(101)); // too large: b closes
  c.socket.bufferedAmount = 10;
  c.session.send("t", 1);
  c.session.send("t", 2); // overflow: c closes, two dropped
  assert.deepEqual(server.stats, {
    sessions: 1,
    lingering: 0,
    rooms: 1,
    opened: 3,
    closed: 2,
    rejected: 0,
    messagesReceived: 3,
    messagesSent: 1,
    messagesDropped: 2,
    bytesDropped: 2 * '{"topic":"t","data":1}'.length,
    invalidMessages: 1,
    messagesRejected: 0,
    overflowCloses: 1,
    tooLargeCloses: 1,
  });
  a.session.close();
  assert.equal(server.stats.sessions, 0);
  assert.equal(server.stats.rooms, 0);
  assert.equal(server.stats.closed, 3);
});

Deno.test("Server.limits reports what adapters configure", () => {
  assert.deepEqual(new Server().limits, {
    maxMessageBytes: 1024 * 1024,
    idleTimeout: 30,
    highWaterMark: 64 * 1024,
  });
  assert.deepEqual(
    new Server({ maxMessageBytes: 10, idleTimeout: 0, highWaterMark: 5 }).limits,
    { maxMessageBytes: 10, idleTimeout: 0, highWaterMark: 5 },
  );
});

Deno.test("new Server() throws RangeError on invalid options", async (t) => {
  const table: [string, Options<undefined>][] = [
    ["maxMessageBytes 0", { maxMessageBytes: 0 }],
    ["maxMessageBytes -1", { maxMessageBytes: -1 }],
    ["maxMessageBytes NaN", { maxMessageBytes: NaN }],
    ["maxMessageBytes Infinity", { maxMessageBytes: Infinity }],
    ["maxMessageBytes a string", { maxMessageBytes: "1024" as unknown as number }],
    ["idleTimeout -1", { idleTimeout: -1 }],
    ["maxQueueMessages 0", { maxQueueMessages: 0 }],
    ["maxQueueMessages 2^30 + 1", { maxQueueMessages: 2 ** 30 + 1 }],
    ["maxQueueBytes 0", { maxQueueBytes: 0 }],
    ["highWaterMark 0", { highWaterMark: 0 }],
    ["closeTimeout -1", { closeTimeout: -1 }],
    ["overflow bogus", { overflow: "bogus" as "close" }],
  ];
  for (const [name, options] of table) {
    await t.step(name, () => {
      assert.throws(() => new Server(options), RangeError);
    });
  }
});

Deno.test({
  name: "new Server() throws RangeError for a fractional maxQueueMessages",
  fn() {
    assert.throws(() => new Server({ maxQueueMessages: 1.5 }), RangeError);
  },
});

Deno.test({
  name: "new Server() throws RangeError for an unknown invalidMessage",
  fn() {
    assert.throws(() => new Server({ invalidMessage: "bogus" as "reply" }), RangeError);
  },
});

Deno.test({
  name: "The server calls the timers option's methods on the object",
  fn() {
    class ClassTimers implements Timers {
      readonly timers = new Map<number, () => void>();
      #next = 0;
      setTimeout(fn: () => void): unknown {
        this.timers.set(++this.#next, fn);
        return this.#next;
      }
      clearTimeout(id: unknown): void {
        this.timers.delete(id as number);
      }
    }
    const timers = new ClassTimers();
    const server = new Server({ timers });
    const { session, socket } = openSession(server, { closeReport: "manual" });
    session.close();
    assert.equal(timers.timers.size, 1);
    socket.completeClose();
    assert.equal(timers.timers.size, 0);
  },
});

Deno.test("A server without a context factory gives every session ctx undefined", async () => {
  const { server, calls } = setup();
  const { session } = await connect(server, calls);
  assert.equal(session.ctx, undefined);
});
