/**
 * Protocol v1's negotiation, `$hello` and the heartbeat (`src/heartbeat.ts`,
 * `server.open()`), on the fake socket and fake timers.
 */
import assert from "node:assert/strict";
import { BATCH_PROTOCOL } from "../src/protocol.ts";
import { endOfTick, upgradeRequest } from "./_fake_socket.ts";
import { envelopes, topics, V1, v1Server } from "./_v1.ts";

const HEARTBEAT = { topic: "$heartbeat" };

Deno.test("a v1 session is sent $hello first, before onConnect's sends", async (t) => {
  for (const protocol of [V1.plain, V1.batch]) {
    await t.step(protocol, async () => {
      const { server, open } = v1Server({
        onConnect: (session) => void session.send("welcome", 1),
        rateLimit: { rate: 10, burst: 20, bytes: 5000 },
        maxRoomsPerSession: 7,
        maxRequestsInFlight: 3,
        maxMessageBytes: 9000,
        heartbeat: 2000,
      });
      const { socket, session } = await open(protocol);
      await endOfTick();
      assert.deepEqual(envelopes(socket)[0], {
        topic: "$hello",
        data: {
          version: 1,
          session: session.id,
          heartbeat: 2000,
          limits: {
            maxMessageBytes: 9000,
            rate: 10,
            burst: 20,
            bytes: 5000,
            maxRoomsPerSession: 7,
            maxRequestsInFlight: 3,
          },
        },
      });
      assert.deepEqual(topics(socket), ["$hello", "welcome"]);
      assert.equal(typeof socket.sent[0], "string");
      assert.match(socket.sent[0] as string, /^\{"topic":"\$hello"/, "a frame of its own");
      assert.equal(server.stats.protocolSessions, 1);
      await server.shutdown();
    });
  }
});

Deno.test("plain and switchboard.batch sessions get no $hello", async () => {
  const { server, open } = v1Server({ onConnect: (session) => void session.send("welcome", 1) });
  const plain = await open("");
  const batch = await open(BATCH_PROTOCOL);
  await endOfTick();
  assert.deepEqual(topics(plain.socket), ["welcome"]);
  assert.deepEqual(topics(batch.socket), ["welcome"]);
  assert.equal(server.stats.protocolSessions, 0);
  await server.shutdown();
});

Deno.test("the gate chooses the user's protocols, then v1.batch, v1, then switchboard.batch", async (t) => {
  const table: [string, Record<string, unknown>, string, string | undefined][] = [
    ["v1 alone", {}, "switchboard.v1", "switchboard.v1"],
    ["v1.batch alone", {}, "switchboard.v1.batch", "switchboard.v1.batch"],
    ["both v1s: v1.batch", {}, "switchboard.v1.batch, switchboard.v1", "switchboard.v1.batch"],
    [
      "both v1s in the other order: still v1.batch",
      {},
      "switchboard.v1, switchboard.v1.batch",
      "switchboard.v1.batch",
    ],
    [
      "both v1s, batch: false: v1",
      { batch: false },
      "switchboard.v1.batch, switchboard.v1",
      "switchboard.v1",
    ],
    [
      "every switchboard protocol: v1.batch",
      {},
      "switchboard.batch, switchboard.v1, switchboard.v1.batch",
      "switchboard.v1.batch",
    ],
    [
      "protocol: false, batch: switchboard.batch, not v1.batch",
      { protocol: false },
      "switchboard.v1.batch, switchboard.v1, switchboard.batch",
      BATCH_PROTOCOL,
    ],
    ["v1 before switchboard.batch", {}, "switchboard.batch, switchboard.v1", "switchboard.v1"],
    ["the user's first", { protocols: ["chat"] }, "switchboard.v1, chat", "chat"],
    ["protocol: false", { protocol: false }, "switchboard.v1", undefined],
    [
      "protocol: false, batch",
      { protocol: false },
      "switchboard.v1, switchboard.batch",
      BATCH_PROTOCOL,
    ],
    ["batch: false refuses v1.batch", { batch: false }, "switchboard.v1.batch", undefined],
  ];
  for (const [name, options, offered, chosen] of table) {
    await t.step(name, async () => {
      const { server } = v1Server(options);
      const request = upgradeRequest(undefined, { "sec-websocket-protocol": offered });
      const handshake = await server.handshake(request, { remoteAddr: { hostname: "1.2.3.4" } });
      assert.ok(!(handshake instanceof Response));
      assert.equal(handshake.protocol, chosen);
      server.abandon(handshake);
    });
  }
});

Deno.test("an idle v1 session gets {topic: $heartbeat} every interval; a busy one none", async () => {
  const { server, timers, open } = v1Server({ heartbeat: 1000 });
  const idle = await open();
  const busy = await open();
  const plain = await open("");
  for (let ms = 0; ms < 5000; ms += 100) {
    timers.tick(100);
    busy.session.send("tick", ms);
  }
  await endOfTick();
  assert.deepEqual(envelopes(idle.socket).slice(1), Array(5).fill(HEARTBEAT));
  assert.ok(!topics(busy.socket).includes("$heartbeat"));
  assert.deepEqual(topics(plain.socket), []);
  assert.equal(server.stats.heartbeats, 5);
  await server.shutdown();
});

Deno.test("no v1 session is left silent longer than the heartbeat interval", async () => {
  const { server, timers, open } = v1Server({ heartbeat: 1000 });
  const { socket, session } = await open();
  const sentAt: number[] = [0]; // $hello
  socket.onSend = () => sentAt.push(timers.now());
  // Messages at odd moments, with pauses of every length in between.
  for (const pause of [10, 450, 990, 1010, 1500, 2600, 10, 3100, 700]) {
    timers.tick(pause);
    session.send("now", timers.now());
  }
  timers.tick(5000);
  for (let i = 1; i < sentAt.length; i++) {
    assert.ok(sentAt[i] - sentAt[i - 1] <= 1000, `silent ${sentAt[i] - sentAt[i - 1]} ms`);
  }
  await server.shutdown();
});

Deno.test("a v1 session whose messages wait in its queue gets no heartbeat behind them", async () => {
  const { server, timers, open } = v1Server({ heartbeat: 1000, highWaterMark: 10 });
  const { socket, session } = await open();
  socket.bufferedAmount = 100; // congested
  session.send("stuck", 1);
  timers.tick(3000);
  assert.equal(session.stats.queueLength, 1);
  assert.equal(server.stats.heartbeats, 0);
  await server.shutdown({ timeout: 0 });
});

Deno.test("one timer runs only while there are v1 sessions, and none after shutdown", async () => {
  const { server, timers, open } = v1Server({ heartbeat: 1000 });
  assert.equal(timers.pending, 0);
  await open("");
  assert.equal(timers.pending, 0, "no timer for a plain session");
  const a = await open();
  const b = await open();
  assert.deepEqual(timers.delays(), [500], "one timer, a walk every half interval");
  a.session.close();
  timers.tick(500);
  assert.equal(timers.pending, 1);
  b.session.close();
  assert.equal(timers.pending, 0, "stopped with the last v1 session");
  await open();
  assert.equal(timers.pending, 1);
  await server.shutdown();
  assert.equal(timers.pending, 0);
  assert.equal(server.stats.protocolSessions, 0);
});

Deno.test("heartbeat: 0 sends none, starts no timer, and $hello says 0", async () => {
  const { server, timers, open } = v1Server({ heartbeat: 0 });
  const { socket } = await open();
  timers.tick(60_000);
  assert.equal(timers.pending, 0);
  assert.deepEqual(envelopes(socket).map((e) => e.data?.heartbeat), [0]);
  assert.equal(server.stats.protocolSessions, 1);
  await server.shutdown();
});

Deno.test("heartbeat and history options are checked", () => {
  assert.throws(() => v1Server({ heartbeat: -1 }), RangeError);
  assert.throws(() => v1Server({ heartbeat: 1.5 }), RangeError);
  assert.throws(() => v1Server({ history: { maxMessages: 0 } }), RangeError);
});
