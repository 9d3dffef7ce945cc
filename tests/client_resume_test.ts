// The client keeps its rooms across reconnects (client/_rooms.ts): re-join with since, dedupe, gaps, recovery.
import assert from "node:assert/strict";
import { Rooms } from "../client/_rooms.ts";
import type { Incoming } from "../client/_wire.ts";
import { ClientClosedError, ReplyError, RequestTimeoutError } from "../client/errors.ts";
import type { GapEvent, RecoveryEvent } from "../client/events.ts";
import { settle } from "./_fake_ws.ts";
import { type FakeServerOptions, rig } from "./_fake_ws_server.ts";
import type { ClientOptions } from "../client/options.ts";

/** A rig whose client records every room message and room event, in one timeline. */
function roomRig(
  options: ClientOptions<Record<string, unknown>, Record<string, unknown>, never> = {},
  serverOptions: FakeServerOptions = {},
) {
  const r = rig(options, serverOptions);
  const timeline: string[] = [];
  const got: [string | undefined, number | undefined, unknown][] = [];
  r.client.on("said", (data, { room, seq }) => {
    got.push([room, seq, data]);
    timeline.push(`${room}#${seq}`);
  });
  const recoveries: RecoveryEvent[] = [];
  r.client.events.on("recovery", (e) => {
    recoveries.push(e);
    timeline.push(`recovery ${e.room} ${e.recovered}${e.reason ? ` ${e.reason}` : ""}`);
  });
  const gaps: GapEvent[] = [];
  r.client.events.on("gap", (e) => {
    gaps.push(e);
    timeline.push(`gap ${e.room} ${e.expected}..${e.received - 1}`);
  });
  /** Drops the connection, runs `meanwhile`, and waits for the reconnect. */
  const outage = async (meanwhile: () => void = () => {}) => {
    r.server.down = true;
    r.server.dropAll();
    await settle();
    meanwhile();
    r.server.down = false;
    await r.retry();
    assert.equal(r.client.state, "open");
  };
  return { ...r, got, timeline, recoveries, gaps, outage };
}

Deno.test("join() answers with the room's position; room messages carry room and seq", async () => {
  const { client, server, got } = roomRig();
  server.publish("lobby", "said", "before"); // nobody joined: no history, not delivered
  const joined = await client.join("lobby");
  assert.deepEqual(joined, { room: "lobby", joined: true, seq: 0, epoch: "e1" });
  server.publish("lobby", "said", "hi");
  await settle();
  assert.deepEqual(got, [["lobby", 1, "hi"]]);
  assert.deepEqual(client.rooms, [{ room: "lobby", seq: 1, epoch: "e1", joined: true }]);
  await client.close();
});

Deno.test("after a reconnect the client re-joins every room with since {seq, epoch}", async () => {
  const { client, server, outage } = roomRig();
  await Promise.all([client.join("a"), client.join("b")]);
  server.publish("a", "said", 1);
  server.publish("a", "said", 2);
  await settle();
  await outage();
  const joins = server.received.filter((e) => e.topic === "$join").map((e) => e.data);
  assert.deepEqual(joins, [
    { room: "a" },
    { room: "b" },
    { room: "a", since: { seq: 2, epoch: "e1" } },
    { room: "b", since: { seq: 0, epoch: "e2" } },
  ]);
  await client.close();
});

Deno.test("what was missed during an outage is replayed in order, once, then recovery: true", async () => {
  const { client, server, got, timeline, recoveries, outage } = roomRig();
  await client.join("lobby");
  server.publish("lobby", "said", "m1");
  await settle();
  await outage(() => {
    for (let i = 2; i <= 5; i++) server.publish("lobby", "said", `m${i}`);
  });
  server.publish("lobby", "said", "m6");
  await settle();
  assert.deepEqual(got.map(([, seq, data]) => [seq, data]), [
    [1, "m1"],
    [2, "m2"],
    [3, "m3"],
    [4, "m4"],
    [5, "m5"],
    [6, "m6"],
  ]);
  assert.deepEqual(timeline, [
    "lobby#1",
    "lobby#2",
    "lobby#3",
    "lobby#4",
    "lobby#5",
    "recovery lobby true",
    "lobby#6",
  ]);
  assert.deepEqual(recoveries, [{ room: "lobby", recovered: true, seq: 5, epoch: "e1" }]);
  assert.equal(client.stats.duplicates, 0);
  await client.close();
});

Deno.test("recovered: false with reason epoch when the room's history was lost (server restart)", async () => {
  const { client, server, got, timeline, outage } = roomRig();
  await client.join("lobby");
  server.publish("lobby", "said", "old-1");
  server.publish("lobby", "said", "old-2");
  await settle();
  await outage(() => server.forgetHistory());
  server.publish("lobby", "said", "new-1"); // seq 1 of the new epoch: delivered, not a "duplicate"
  await settle();
  assert.deepEqual(timeline, ["lobby#1", "lobby#2", "recovery lobby false epoch", "lobby#1"]);
  assert.deepEqual(got.at(-1), ["lobby", 1, "new-1"]);
  assert.deepEqual(client.rooms, [{ room: "lobby", seq: 1, epoch: "e2", joined: true }]);
  await client.close();
});

Deno.test("recovered: false with reason gap when the window no longer holds what was missed", async () => {
  const { client, server, recoveries, got, outage } = roomRig({}, { window: 3 });
  await client.join("lobby");
  server.publish("lobby", "said", 1);
  await settle();
  await outage(() => {
    for (let i = 2; i <= 10; i++) server.publish("lobby", "said", i);
  });
  assert.deepEqual(recoveries, [
    { room: "lobby", recovered: false, reason: "gap", seq: 10, epoch: "e1" },
  ]);
  server.publish("lobby", "said", 11);
  await settle();
  assert.deepEqual(got.map(([, seq]) => seq), [1, 11]); // nothing replayed; live from 11
  assert.equal(client.stats.gaps, 0); // reported as recovery, not as a gap
  await client.close();
});

Deno.test("a message whose seq is not above the last delivered is dropped as a duplicate, counted", async () => {
  const { client, server, got, net } = roomRig();
  const duplicates: unknown[] = [];
  client.events.on("duplicate", (e) => duplicates.push(e));
  await client.join("lobby");
  server.publish("lobby", "said", "a");
  server.publish("lobby", "said", "b");
  await settle();
  server.send(net.last, { topic: "said", data: "a again", room: "lobby", seq: 1 });
  server.send(net.last, { topic: "said", data: "b again", room: "lobby", seq: 2 });
  await settle();
  assert.deepEqual(got.map(([, , d]) => d), ["a", "b"]);
  assert.deepEqual(duplicates, [{ room: "lobby", seq: 1 }, { room: "lobby", seq: 2 }]);
  assert.equal(client.stats.duplicates, 2);
  await client.close();
});

Deno.test("a seq that skips is delivered and reported as a gap", async () => {
  const { client, server, got, gaps } = roomRig();
  await client.join("lobby");
  server.publish("lobby", "said", 1);
  server.publish("lobby", "said", 2, { skip: true });
  server.publish("lobby", "said", 3, { skip: true });
  server.publish("lobby", "said", 4);
  await settle();
  assert.deepEqual(got.map(([, seq]) => seq), [1, 4]);
  assert.deepEqual(gaps, [{ room: "lobby", expected: 2, received: 4 }]);
  assert.equal(client.stats.gaps, 1);
  assert.equal(client.stats.missed, 2);
  await client.close();
});

Deno.test("a refused join rejects with ReplyError and the room is not kept", async () => {
  const { client, server, outage } = roomRig({}, {
    authorizeJoin: (_, room) => room === "secret" ? "forbidden" : true,
  });
  await assert.rejects(
    client.join("secret"),
    (e) => e instanceof ReplyError && e.code === "forbidden",
  );
  assert.deepEqual(client.rooms, []);
  await outage();
  assert.equal(server.received.filter((e) => e.topic === "$join").length, 1);
  await client.close();
});

Deno.test("a re-join the server now refuses: recovery with reason refused, the room is dropped", async () => {
  let allowed = true;
  const { client, recoveries, outage } = roomRig({}, {
    authorizeJoin: () => allowed ? true : "forbidden",
  });
  await client.join("lobby");
  await outage(() => allowed = false);
  assert.equal(recoveries.length, 1);
  assert.equal(recoveries[0].reason, "refused");
  assert.ok(recoveries[0].error instanceof ReplyError);
  assert.deepEqual(client.rooms, []);
  await client.close();
});

Deno.test("leave(): $leave answered; the room is neither tracked nor re-joined", async () => {
  const { client, server, outage } = roomRig();
  await client.join("lobby");
  assert.deepEqual(await client.leave("lobby"), { room: "lobby", left: true });
  assert.deepEqual(await client.leave("lobby"), { room: "lobby", left: false });
  await outage();
  assert.deepEqual(server.received.map((e) => e.topic), ["$join", "$leave", "$leave"]);
  await client.close();
});

Deno.test("leave() of a room the server put the session in asks the server", async () => {
  const { client, server, net } = roomRig();
  await settle();
  server.sessions.get(net.last)!.rooms.add("news");
  assert.deepEqual(await client.leave("news"), { room: "news", left: true });
  assert.equal(server.sessions.get(net.last)!.rooms.has("news"), false);
  await client.close();
});

Deno.test("join() while offline joins on connect; leave() while offline resolves at once", async () => {
  const { client, server } = roomRig({}, { autoAccept: false });
  const joining = client.join("a");
  client.join("b").catch(() => {});
  const left = await client.leave("b");
  assert.deepEqual(left, { room: "b", left: true });
  await settle();
  server.accept(server.net.last);
  assert.deepEqual(await joining, { room: "a", joined: true, seq: 0, epoch: "e1" });
  assert.deepEqual(server.received.map((e) => e.data), [{ room: "a" }]);
  await client.close();
});

Deno.test("join() again while joined answers at once with joined: false", async () => {
  const { client, server } = roomRig();
  await client.join("lobby");
  assert.deepEqual(await client.join("lobby"), {
    room: "lobby",
    joined: false,
    seq: 0,
    epoch: "e1",
  });
  assert.equal(server.received.length, 1);
  await client.close();
});

Deno.test("a join() timeout rejects the promise only: the room is joined once the server is back", async () => {
  const { client, server, clock } = roomRig({ connectTimeout: 60_000 }, { autoAccept: false });
  const joining = client.join("lobby", { timeout: 1_000 });
  await settle();
  clock.tick(1_000);
  await assert.rejects(joining, RequestTimeoutError);
  server.accept(server.net.last);
  await settle();
  assert.deepEqual(client.rooms, [{ room: "lobby", seq: 0, epoch: "e1", joined: true }]);
  await client.close();
});

Deno.test("leave() while a join waits rejects that join; close() rejects joins with ClientClosedError", async () => {
  const { client } = roomRig({}, { autoAccept: false });
  const a = client.join("a");
  const b = client.join("b");
  await client.leave("a");
  await assert.rejects(a, /left before the server answered/);
  await client.close();
  await assert.rejects(b, ClientClosedError);
  await assert.rejects(client.join("c"), ClientClosedError);
  await assert.rejects(client.leave("c"), ClientClosedError);
});

Deno.test("join() checks the room's name", async () => {
  const { client } = roomRig();
  assert.throws(() => client.join(7 as unknown as string), TypeError);
  assert.throws(() => client.join(""), RangeError);
  assert.throws(() => client.join("é".repeat(128)), RangeError);
  await client.close();
});

Deno.test("a server without history: joins work, a re-join reports recovered: false, no-history", async () => {
  const { client, server, got, recoveries, outage } = roomRig({}, { history: false });
  assert.deepEqual(await client.join("lobby"), { room: "lobby", joined: true });
  server.publish("lobby", "said", "x");
  await settle();
  assert.deepEqual(got, [[undefined, undefined, "x"]]); // a plain envelope
  await outage();
  assert.deepEqual(recoveries, [{ room: "lobby", recovered: false, reason: "no-history" }]);
  assert.deepEqual(server.received.filter((e) => e.topic === "$join").map((e) => e.data), [
    { room: "lobby" },
    { room: "lobby" },
  ]);
  await client.close();
});

Deno.test("rooms the server put the session in: duplicates and gaps per connection, nothing across", async () => {
  const { client, server, net, got, gaps, outage } = roomRig();
  await settle();
  server.sessions.get(net.last)!.rooms.add("news");
  server.publish("news", "said", "plain"); // no client joined it: no history, no seq
  server.keep("news"); // another client joined it: its messages carry seq
  server.publish("news", "said", 1);
  server.publish("news", "said", 2);
  server.send(net.last, { topic: "said", data: "dup", room: "news", seq: 2 });
  server.publish("news", "said", 3, { skip: true });
  server.publish("news", "said", 4);
  await settle();
  assert.deepEqual(got.map(([, seq]) => seq), [undefined, 1, 2, 4]);
  assert.equal(gaps.length, 1);
  await outage(() => server.forgetHistory());
  server.sessions.get(net.last)!.rooms.add("news");
  server.keep("news");
  server.publish("news", "said", "restarted"); // seq 1 again, a new epoch
  await settle();
  assert.deepEqual(got.at(-1), ["news", 1, "restarted"]);
  await client.close();
});

Deno.test("re-joins respect maxRequestsInFlight", async () => {
  const { client, server, net, outage } = roomRig({}, { limits: { maxRequestsInFlight: 1 } });
  await Promise.all(["a", "b", "c"].map((room) => client.join(room)));
  await outage();
  await settle();
  assert.ok(client.rooms.every((r) => r.joined));
  assert.deepEqual(net.sockets.map((s) => s.maxInFlight), [1, 1]);
  assert.equal(server.received.filter((e) => e.topic === "$join").length, 6);
  await client.close();
});

/** Rooms with a recording owner, for the cases a server rarely produces. */
function rooms() {
  const log: string[] = [];
  const r = new Rooms({
    deliver: (m) => log.push(`${m.room}#${m.seq ?? "-"}`),
    gap: (e) => log.push(`gap ${e.expected}..${e.received - 1}`),
    duplicate: (e) => log.push(`dup ${e.seq}`),
    recovery: (e) => log.push(`recovery ${e.recovered}${e.reason ? ` ${e.reason}` : ""}`),
  });
  const msg = (room: string, seq: number): Incoming => ({ topic: "said", data: seq, room, seq });
  return { r, log, msg };
}

Deno.test("Rooms: messages before the join's answer are held, then delivered in seq order once", () => {
  const { r, log, msg } = rooms();
  r.add("a");
  r.joinData("a");
  for (const seq of [3, 1, 2, 2, 1]) r.message(msg("a", seq));
  assert.deepEqual(log, []);
  r.answered({ room: "a", joined: true, seq: 3, epoch: "e" });
  assert.deepEqual(log, ["a#1", "dup 1", "a#2", "dup 2", "a#3"]);
});

Deno.test("Rooms: a replay that falls short of the answer's position is reported as a gap", () => {
  const { r, log, msg } = rooms();
  r.add("a");
  r.joinData("a");
  r.answered({ room: "a", joined: true, seq: 2, epoch: "e" });
  r.message(msg("a", 3));
  r.lost();
  assert.deepEqual(r.joinData("a"), { room: "a", since: { seq: 3, epoch: "e" } });
  r.message(msg("a", 4));
  r.answered({ room: "a", joined: true, seq: 6, epoch: "e", recovered: true });
  assert.deepEqual(log, ["a#3", "a#4", "gap 5..6", "recovery true"]);
  r.message(msg("a", 7));
  assert.deepEqual(log.at(-1), "a#7");
});

Deno.test("Rooms: a connection lost before the join's answer delivers what was held", () => {
  const { r, log, msg } = rooms();
  r.add("a");
  r.joinData("a");
  r.answered({ room: "a", joined: true, seq: 0, epoch: "e" });
  r.lost();
  r.joinData("a");
  r.message(msg("a", 2));
  r.message(msg("a", 1));
  r.lost();
  assert.deepEqual(log, ["a#1", "a#2"]);
  assert.deepEqual(r.joinData("a"), { room: "a", since: { seq: 2, epoch: "e" } });
});
