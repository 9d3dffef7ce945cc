/**
 * The server (`src/server.ts`), on fake timers and fake sockets: publish,
 * sendTo and broadcast, the registry and its views, ids, stats, options,
 * and `open()`, which takes only a handshake its own gate made. Shutdown
 * is in `shutdown_test.ts`.
 */
import assert from "node:assert/strict";
import { Handshake } from "../src/handshake.ts";
import type { ServerOptions, Timers } from "../src/options.ts";
import { Server } from "../src/server.ts";
import type { EventMap } from "../src/topics.ts";
import { CLIENT, FakeSocket, openSession, setup, upgradeRequest } from "./_fake_socket.ts";

type Options<Ctx> = ServerOptions<Ctx, EventMap, EventMap>;

/** Data whose `toJSON` counts how often it was serialized. */
function counted<T>(value: T) {
  const data = { calls: 0, toJSON: () => (data.calls++, value) };
  return data;
}

// ---------------------------------------------------------------- publish and broadcast

Deno.test("Server.publish() encodes once and reports sent and queued", async () => {
  const { server } = setup({ highWaterMark: 10 });
  const members = [await openSession(server), await openSession(server), await openSession(server)];
  const outsider = await openSession(server);
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

Deno.test("Server.publish() reports drops by the overflow policy", async () => {
  const { server } = setup({ highWaterMark: 10, maxQueueMessages: 1, overflow: "drop-newest" });
  const a = await openSession(server);
  const b = await openSession(server);
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
  const opened = [await openSession(server), await openSession(server), await openSession(server)];
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
  await t.step("a Set, and sessions outside the room", async () => {
    const outsider = (await openSession(server)).session;
    assert.equal(server.publish("room", "t", 3, { except: new Set([c, outsider]) }).recipients, 2);
  });
  await t.step("an empty array", () => {
    assert.equal(server.publish("room", "t", 4, { except: [] }).recipients, 3);
  });
  assert.deepEqual(opened.map((o) => o.socket.data()), [[3, 4], [1, 3, 4], [1, 2, 4]]);
});

Deno.test("Server.publish() to an empty room reaches nobody and encodes nothing", async () => {
  const { server } = setup();
  await openSession(server);
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

Deno.test("Server.publish() throws TypeError for data JSON cannot hold, and sends nothing", async () => {
  const { server } = setup();
  const { session, socket } = await openSession(server);
  session.rooms.join("room");
  assert.throws(() => server.publish("room", "t", { n: 1n }), TypeError);
  assert.deepEqual(socket.sent, []);
});

Deno.test("Server.publishBinary() hands the same bytes to every member", async () => {
  const { server } = setup();
  const a = await openSession(server);
  const b = await openSession(server);
  a.session.rooms.join("room");
  b.session.rooms.join("room");
  const bytes = new Uint8Array([1, 2, 3]);
  const result = server.publishBinary("room", bytes, { except: b.session });
  assert.equal(result.sent, 1);
  assert.equal(a.socket.sent[0], bytes);
  assert.deepEqual(b.socket.sent, []);
  assert.equal(server.publishBinary("empty", bytes).recipients, 0);
});

Deno.test("Server.broadcast() reaches every session, encodes once, and counts closing ones", async () => {
  const { server } = setup({ highWaterMark: 10 });
  const a = await openSession(server);
  const b = await openSession(server);
  const closing = await openSession(server, { closeReport: "manual" });
  const skipped = await openSession(server);
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

Deno.test("Server.sendTo() sends to the sessions given, encoding once", async () => {
  const { server } = setup({ highWaterMark: 10 });
  const a = await openSession(server);
  const b = await openSession(server);
  const c = await openSession(server, { closeReport: "manual" });
  const d = await openSession(server);
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

// ---------------------------------------------------------------- open(): only the gate's handshakes

Deno.test("Server.open() refuses a handshake its gate did not make, with TypeError, and leaves the caps whole", async () => {
  const { server, accept } = setup({ maxSessions: 1 });
  const forged = { ctx: undefined, protocol: undefined } as unknown as Handshake<undefined>;
  const made = new Handshake<undefined>(undefined, undefined);
  const { server: other } = setup();
  const foreign = await accept(other);
  for (const handshake of [forged, made, foreign]) {
    assert.throws(() => server.open(new FakeSocket(), handshake), {
      name: "TypeError",
      message: "Cannot open a session: the handshake was not made by this server",
    });
  }
  assert.deepEqual([server.sessions.size, server.stats.opened, server.stats.handshakes], [0, 0, 0]);
  assert.equal(other.stats.handshakes, 1, "the other server's handshake is still its own");
  await openSession(server); // the one place under maxSessions is free
  assert.equal(server.sessions.size, 1);
});

Deno.test("Server.open() refuses a handshake already opened or abandoned, and leaves the caps whole", async () => {
  const { server, accept } = setup({ maxSessions: 2 });
  const opened = await accept();
  server.open(new FakeSocket(), opened);
  const abandoned = await accept();
  server.abandon(abandoned);
  server.abandon(abandoned); // idempotent
  for (const handshake of [opened, abandoned]) {
    assert.throws(() => server.open(new FakeSocket(), handshake), {
      name: "TypeError",
      message: "Cannot open a session: the handshake was already opened or abandoned",
    });
  }
  assert.deepEqual([server.sessions.size, server.stats.opened, server.stats.handshakes], [1, 1, 0]);
  await openSession(server); // exactly one place left
  const refused = await server.handshake(upgradeRequest(), CLIENT);
  assert.ok(refused instanceof Response);
  assert.equal(refused.status, 503);
  await refused.body?.cancel();
});

Deno.test("Server.stats.handshakes counts accepted handshakes until they are opened or abandoned", async () => {
  const { server, calls, accept } = setup({ origins: ["https://app.example.com"] });
  const a = await accept();
  const b = await accept();
  assert.equal(server.stats.handshakes, 2);
  const refused = await server.handshake(upgradeRequest(undefined, { origin: "https://evil.com" }));
  assert.ok(refused instanceof Response);
  await refused.body?.cancel();
  assert.equal(server.stats.handshakes, 2, "a refusal is no handshake");
  server.open(new FakeSocket(), a);
  assert.equal(server.stats.handshakes, 1);
  server.abandon(b);
  assert.equal(server.stats.handshakes, 0);
  server.upgradeFailed(upgradeRequest(), await accept(), new Error("no"));
  assert.equal(server.stats.handshakes, 0, "a failed upgrade gives its handshake back");
  // Through fetch and the Deno bridge: until the socket opens or closes.
  await server.fetch(upgradeRequest(), CLIENT);
  await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(server.stats.handshakes, 2);
  calls[0].socket.fireOpen();
  calls[1].socket.fireClose(1006, "", false);
  assert.equal(server.stats.handshakes, 0);
  assert.deepEqual([server.stats.sessions, server.stats.opened], [2, 2]);
});

// ---------------------------------------------------------------- registry, ids, stats, options

Deno.test("Session ids are unique UUIDs by default", async () => {
  const { server } = setup();
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) ids.push((await openSession(server)).session.id);
  assert.equal(new Set(ids).size, 200);
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.equal(server.sessions.size, 200);
  for (const id of ids) assert.equal(server.sessions.get(id)?.id, id);
});

Deno.test("Session ids come from generateId when given", async () => {
  let n = 0;
  const { server } = setup({ generateId: () => `s${++n}` });
  const a = (await openSession(server)).session;
  const b = (await openSession(server)).session;
  assert.equal(a.id, "s1");
  assert.equal(b.id, "s2");
  assert.equal(server.sessions.get("s2"), b);
});

Deno.test("Server.stats counts sessions, rooms and traffic", async () => {
  const { server } = setup({
    highWaterMark: 10,
    maxQueueMessages: 1,
    maxMessageBytes: 100,
    invalidMessage: "ignore",
  });
  const a = await openSession(server, { closeReport: "sync" });
  const b = await openSession(server, { closeReport: "sync" });
  const c = await openSession(server, { closeReport: "sync" });
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
    handshakes: 0,
    abandoned: 0,
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
    protocolSessions: 0,
    heartbeats: 0,
    joins: 0,
    joinsRefused: 0,
    messagesReplayed: 0,
    unrecovered: 0,
    historyRooms: 0,
    historyMessages: 0,
    historyBytes: 0,
    historyEvicted: 0,
    historyRoomsDropped: 0,
  });
  a.session.close();
  assert.equal(server.stats.sessions, 0);
  assert.equal(server.stats.rooms, 0);
  assert.equal(server.stats.closed, 3);
});

Deno.test("Server.limits reports what adapters configure", () => {
  assert.deepEqual(setup().server.limits, {
    maxMessageBytes: 1024 * 1024,
    idleTimeout: 30,
    highWaterMark: 64 * 1024,
  });
  assert.deepEqual(
    setup({ maxMessageBytes: 10, idleTimeout: 0, highWaterMark: 5 }).server.limits,
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

Deno.test("new Server() throws RangeError for a fractional maxQueueMessages", () => {
  assert.throws(() => new Server({ maxQueueMessages: 1.5 }), RangeError);
});

Deno.test("new Server() throws RangeError for an unknown invalidMessage", () => {
  assert.throws(() => new Server({ invalidMessage: "bogus" as "reply" }), RangeError);
});

Deno.test("The server calls the timers option's methods on the object", async () => {
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
  const { server } = setup({ timers });
  const { session, socket } = await openSession(server, { closeReport: "manual" });
  session.close();
  assert.equal(timers.timers.size, 1);
  socket.completeClose();
  assert.equal(timers.timers.size, 0);
});
