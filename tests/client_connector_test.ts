import assert from "node:assert/strict";
import type { ClosedEvent, ReconnectingEvent } from "../client/events.ts";
import { settle } from "./_fake_ws.ts";
import { rig } from "./_fake_ws_server.ts";

Deno.test("a client offers switchboard.v1, opens on $hello, and reports the session", async () => {
  const { client, net } = rig({ protocols: ["chat.v2"] }, { heartbeat: 15_000 });
  const opened: unknown[] = [];
  client.events.on("open", (e) => opened.push(e));
  assert.equal(client.state, "connecting");
  await settle();
  assert.deepEqual(net.last.protocols, ["switchboard.v1", "chat.v2"]);
  assert.equal(client.state, "open");
  assert.deepEqual(opened, [{
    session: "s1",
    protocol: "switchboard.v1",
    heartbeat: 15_000,
    limits: { maxMessageBytes: 1_048_576, maxRequestsInFlight: 16 },
    reconnected: false,
  }]);
  await client.close();
});

Deno.test("batch: true offers switchboard.v1.batch, then switchboard.v1, and batch frames are read", async () => {
  const { client, server, net } = rig({ batch: true, protocols: ["chat.v2"] });
  const got: unknown[] = [];
  client.on("a", (data) => got.push(data));
  await settle();
  assert.deepEqual(net.last.protocols, ["switchboard.v1.batch", "switchboard.v1", "chat.v2"]);
  server.send(net.last, [{ topic: "a", data: 1 }, { topic: "a", data: 2 }]);
  await settle();
  assert.deepEqual(got, [1, 2]);
  await client.close();
});

Deno.test("a server that picks the user's subprotocol, not v1: open at the upgrade, no heartbeat", async () => {
  const { client, server, net } = rig({ protocols: ["chat.v2"] }, { autoAccept: false });
  await settle();
  net.last.fireOpen("chat.v2");
  assert.equal(client.state, "open");
  server.silent = true;
  await client.close();
});

Deno.test("connect timeout (5 s): an attempt that never opens is closed and retried", async (t) => {
  await t.step("no open", async () => {
    const { client, clock, net } = rig({}, { autoAccept: false });
    const lost: ReconnectingEvent[] = [];
    client.events.on("reconnecting", (e) => lost.push(e));
    await settle();
    clock.tick(4_999);
    assert.equal(lost.length, 0);
    clock.tick(1);
    assert.equal(lost[0].reason, "Connect timeout");
    assert.deepEqual(net.sockets[0].closes, [{ code: 1000, reason: "Connect timeout" }]);
    assert.equal(client.state, "reconnecting");
    await client.close();
  });
  await t.step("open but no $hello", async () => {
    const { client, server, clock, net } = rig();
    server.silent = true;
    await settle();
    assert.equal(net.last.readyState, 1);
    assert.equal(client.state, "connecting");
    clock.tick(5_000);
    await settle();
    assert.equal(client.state, "reconnecting");
    assert.equal(net.sockets[0].closes.length, 1);
    await client.close();
  });
  await t.step("connectTimeout option", async () => {
    const { client, clock } = rig({ connectTimeout: 100 }, { autoAccept: false });
    await settle();
    clock.tick(100);
    assert.equal(client.state, "reconnecting");
    await client.close();
  });
});

Deno.test("liveness: no frame within heartbeat + grace closes the socket and reconnects", async (t) => {
  await t.step("default grace: half the heartbeat, at least 2 s", async () => {
    const { client, server, clock, net } = rig({}, { heartbeat: 1_000 });
    const lost: ReconnectingEvent[] = [];
    client.events.on("reconnecting", (e) => lost.push(e));
    await settle();
    // Heartbeats keep it alive for a minute.
    for (let i = 0; i < 60; i++) {
      clock.tick(1_000);
      server.heartbeat();
      await settle();
    }
    assert.equal(lost.length, 0);
    server.silent = true; // a proxy gone silent, no FIN
    clock.tick(2_999);
    assert.equal(lost.length, 0);
    clock.tick(1);
    assert.deepEqual(lost.map((e) => e.reason), ["Heartbeat timeout"]);
    assert.equal(net.sockets[0].closes.length, 1);
    server.silent = false;
    clock.tick(lost[0].delay);
    await settle();
    assert.equal(client.state, "open");
    assert.equal(net.sockets.length, 2);
    assert.equal(net.overlaps, 0);
    await client.close();
  });
  await t.step("any frame counts, not only heartbeats", async () => {
    const { client, server, clock, net } = rig({ heartbeatGrace: 100 }, { heartbeat: 10_000 });
    await settle();
    for (let i = 0; i < 20; i++) {
      clock.tick(5_000);
      server.send(net.last, { topic: "news", data: i });
      await settle();
    }
    assert.equal(client.state, "open");
    clock.tick(10_100);
    assert.equal(client.state, "reconnecting");
    await client.close();
  });
  await t.step("heartbeat 0: no liveness timer", async () => {
    const { client, clock } = rig({}, { heartbeat: 0 });
    await settle();
    clock.tick(3_600_000);
    assert.equal(client.state, "open");
    await client.close();
  });
});

Deno.test("close codes 4000-4099 from the server stop the client; others reconnect", async (t) => {
  for (
    const [code, stops] of [
      [4000, true],
      [4099, true],
      [4100, false],
      [3999, false],
      [1000, false],
      [1001, false],
      [1008, false],
    ] as const
  ) {
    await t.step(`${code}: ${stops ? "closed for good" : "reconnects"}`, async () => {
      const { client, server, clock, net, retry } = rig();
      const closed: ClosedEvent[] = [];
      client.events.on("closed", (e) => closed.push(e));
      await settle();
      server.closeAll(code, "bye");
      await settle();
      if (stops) clock.tick(60_000);
      else await retry();
      if (stops) {
        assert.equal(client.state, "closed");
        assert.deepEqual(closed, [{ cause: "server", code, reason: "bye" }]);
        assert.equal(net.sockets.length, 1);
      } else {
        assert.equal(client.state, "open");
        assert.equal(net.sockets.length, 2);
      }
      await client.close();
    });
  }
});

Deno.test("params: a function is called before every attempt, its values in the query", async () => {
  let calls = 0;
  const { client, server, net, retry } = rig({
    params: () => ({ token: `t${++calls}`, v: 2, skip: undefined }),
  });
  await settle();
  for (let i = 0; i < 3; i++) {
    server.dropAll();
    await settle();
    await retry();
  }
  assert.equal(calls, 4);
  assert.deepEqual(net.sockets.map((s) => s.params.get("token")), ["t1", "t2", "t3", "t4"]);
  assert.ok(net.sockets.every((s) => s.params.get("v") === "2" && !s.params.has("skip")));
  assert.ok(net.sockets.every((s) => s.url.startsWith("ws://fake.test/ws?")));
  await client.close();
});

Deno.test("params: an async function is awaited; a throw or rejection is a failed attempt", async () => {
  let calls = 0;
  const { client, net, retry } = rig({
    params: () => {
      calls++;
      if (calls === 1) throw new Error("no token");
      if (calls === 2) return Promise.reject(new Error("token service down"));
      return Promise.resolve({ token: "fresh" });
    },
  });
  const reasons: string[] = [];
  client.events.on("reconnecting", (e) => reasons.push(e.reason));
  await settle();
  assert.deepEqual(reasons, ["params() threw: no token"]);
  await retry();
  assert.deepEqual(reasons.at(-1), "params() rejected: token service down");
  await retry();
  assert.equal(client.state, "open");
  assert.equal(net.sockets.length, 1);
  assert.equal(net.last.params.get("token"), "fresh");
  await client.close();
});

Deno.test("params: a close() while params() is pending opens no socket", async () => {
  let resolve!: (p: Record<string, string>) => void;
  const { client, net } = rig({ params: () => new Promise((r) => resolve = r) });
  await settle();
  const closing = client.close();
  resolve({ token: "late" });
  await closing;
  await settle();
  assert.equal(net.sockets.length, 0);
  assert.equal(client.state, "closed");
});

Deno.test("params: an attempt whose params() outlives the connect timeout is abandoned", async () => {
  let calls = 0;
  const pending: ((p: Record<string, string>) => void)[] = [];
  const { client, clock, net, retry } = rig({
    params: () => {
      calls++;
      return new Promise((r) => pending.push(r));
    },
  });
  await settle();
  clock.tick(5_000); // the first params() is still pending
  assert.equal(client.state, "reconnecting");
  pending[0]({ token: "stale" });
  await settle();
  assert.equal(net.sockets.length, 0);
  await retry();
  pending[1]({ token: "fresh" });
  await settle();
  assert.equal(calls, 2);
  assert.deepEqual(net.sockets.map((s) => s.params.get("token")), ["fresh"]);
  assert.equal(client.state, "open");
  await client.close();
});

Deno.test("refusals before the upgrade (1006, never open) stop after maxFailedAttempts", async (t) => {
  await t.step("default: 20 in a row", async () => {
    const { client, server, net, retry } = rig();
    server.down = true;
    const closed: ClosedEvent[] = [];
    client.events.on("closed", (e) => closed.push(e));
    await settle();
    while (client.state !== "closed") await retry();
    assert.equal(net.sockets.length, 20);
    assert.deepEqual(closed, [{ cause: "retries", code: 1006, reason: "" }]);
  });
  await t.step("an opened connection resets the count", async () => {
    const { client, server, net, retry } = rig({ reconnect: { maxFailedAttempts: 3 } });
    await settle();
    for (let round = 0; round < 3; round++) {
      server.down = true;
      server.dropAll();
      await settle();
      for (let i = 0; i < 2; i++) await retry();
      assert.equal(client.state, "reconnecting");
      server.down = false;
      await retry();
      assert.equal(client.state, "open");
    }
    assert.equal(net.sockets.length, 10);
    await client.close();
  });
  await t.step("attempts made while offline do not count, and wait at least the cap", async () => {
    const { client, server, network, retry } = rig({ reconnect: { maxFailedAttempts: 2 } });
    await settle();
    network.fire("offline");
    server.down = true;
    server.dropAll();
    await settle();
    const delays: number[] = [];
    client.events.on("reconnecting", (e) => delays.push(e.delay));
    for (let i = 0; i < 10; i++) await retry();
    assert.equal(client.state, "reconnecting");
    assert.equal(delays.length, 10);
    assert.ok(delays.every((d) => d >= 20_000), `${delays}`);
    await client.close();
  });
  await t.step("Infinity retries forever", async () => {
    const { client, server, net, retry } = rig({ reconnect: { maxFailedAttempts: Infinity } });
    server.down = true;
    await settle();
    for (let i = 0; i < 100; i++) await retry();
    assert.equal(net.sockets.length, 101);
    assert.equal(client.state, "reconnecting");
    await client.close();
  });
});

Deno.test("online: a waiting retry comes early, within random(0, base)", async () => {
  const { client, server, clock, network, net } = rig({ random: () => 0.9 });
  server.down = true;
  const delays: number[] = [];
  client.events.on("reconnecting", (e) => delays.push(e.delay));
  await settle();
  for (let i = 0; i < 6; i++) {
    clock.tick(delays.at(-1)!);
    await settle();
  }
  assert.equal(delays.at(-1), 18_000);
  const before = net.sockets.length;
  server.down = false;
  network.fire("online");
  clock.tick(449);
  assert.equal(net.sockets.length, before);
  clock.tick(1); // 0.9 * 500
  await settle();
  assert.equal(net.sockets.length, before + 1);
  assert.equal(client.state, "open");
  // online while open, or while attempting: nothing happens
  network.fire("online");
  clock.tick(1_000);
  assert.equal(net.sockets.length, before + 1);
  await client.close();
});

Deno.test("online never delays a retry that is already sooner", async () => {
  const { client, server, clock, network, net } = rig({ random: () => 0.9 });
  server.down = true;
  await settle(); // first retry in 0.9 * 500 = 450 ms
  network.fire("offline");
  network.fire("online"); // would be 450 too: no change
  clock.tick(450);
  assert.equal(net.sockets.length, 2);
  await client.close();
});

Deno.test("reconnect: false closes the client at the first loss", async () => {
  const { client, server, clock, net } = rig({ reconnect: false });
  const closed: ClosedEvent[] = [];
  client.events.on("closed", (e) => closed.push(e));
  await settle();
  server.dropAll();
  await settle();
  clock.tick(60_000);
  assert.deepEqual(closed, [{ cause: "lost", code: 1006, reason: "" }]);
  assert.equal(net.sockets.length, 1);
});

Deno.test("events of an older socket are ignored: no state change, no second socket", async () => {
  const { client, server, net, retry } = rig();
  await settle();
  const old = net.sockets[0];
  server.dropAll();
  await settle();
  await retry();
  assert.equal(net.sockets.length, 2);
  const states: string[] = [];
  client.events.on("state", (e) => states.push(e.state));
  const got: unknown[] = [];
  client.on("x", (d) => got.push(d));
  old.readyState = 1; // a confused runtime
  old.onopen?.({});
  old.onmessage?.({ data: '{"topic":"x","data":1}' });
  old.onclose?.({ code: 1006, reason: "" });
  old.onerror?.({});
  await settle();
  assert.deepEqual(states, []);
  assert.deepEqual(got, []);
  assert.equal(net.sockets.length, 2);
  assert.equal(client.state, "open");
  await client.close();
});

Deno.test("an error event alone never reconnects: only the close that follows", async () => {
  const { client, clock, net } = rig();
  await settle();
  net.last.fireError();
  clock.tick(60_000);
  await settle();
  assert.equal(client.state, "open");
  assert.equal(net.sockets.length, 1);
  net.last.fireClose(1006);
  assert.equal(client.state, "reconnecting");
  await client.close();
});

Deno.test("a WebSocket constructor that throws is a failed attempt", async () => {
  let calls = 0;
  const { client, retry } = rig({
    WebSocket: class {
      constructor() {
        calls++;
        throw new SyntaxError("bad URL");
      }
    } as never,
  });
  const reasons: string[] = [];
  client.events.on("reconnecting", (e) => reasons.push(e.reason));
  await settle();
  await retry();
  assert.equal(calls, 2);
  assert.deepEqual(reasons, ["Cannot open: bad URL", "Cannot open: bad URL"]);
  await client.close();
});

Deno.test("close(): closes the socket with the code, removes the network listeners, resolves once closed", async () => {
  const { client, net, network, clock } = rig();
  await settle();
  assert.equal(network.listeners, 2);
  const first = client.close(4321, "done");
  assert.equal(client.close(), first);
  await first;
  assert.deepEqual(net.last.closes, [{ code: 4321, reason: "done" }]);
  assert.equal(network.listeners, 0);
  assert.equal(clock.pending, 0);
  assert.equal(client.state, "closed");
});

Deno.test("close(): a socket that never reports its close is released after closeTimeout", async () => {
  const { client, net, clock } = rig({ closeTimeout: 1_000 });
  net.autoClose = false;
  await settle();
  let done = false;
  const closing = client.close().then(() => done = true);
  await settle();
  assert.equal(done, false);
  clock.tick(1_000);
  await closing;
  assert.equal(clock.pending, 0);
});

Deno.test("close() before the first attempt opens nothing", async () => {
  const { client, net } = rig();
  await client.close();
  await settle();
  assert.equal(net.sockets.length, 0);
});

Deno.test("protocol: false offers no switchboard.v1 (batch: switchboard.batch) and opens at the upgrade", async () => {
  const { client, net } = rig({ protocol: false }, { autoAccept: false });
  await settle();
  assert.deepEqual(net.last.protocols, []);
  net.last.fireOpen("");
  assert.equal(client.state, "open");
  await client.close();
  const batch = rig({ protocol: false, batch: true, protocols: ["x"] });
  await settle();
  assert.deepEqual(batch.net.last.protocols, ["switchboard.batch", "x"]);
  await batch.client.close();
});
