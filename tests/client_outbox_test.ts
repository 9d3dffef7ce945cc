import assert from "node:assert/strict";
import { type Item, Outbox } from "../client/_outbox.ts";
import { utf8Length } from "../client/_wire.ts";
import { RequestDroppedError } from "../client/errors.ts";
import type { DropEvent } from "../client/events.ts";
import { settle } from "./_fake_ws.ts";
import { rig } from "./_fake_ws_server.ts";

const item = (topic: string, bytes: number, id?: number): Item => ({
  text: topic,
  bytes,
  topic,
  ...(id === undefined ? {} : { id }),
});

Deno.test("Outbox holds items in order, within its message bound (drop-newest)", () => {
  const dropped: string[] = [];
  const box = new Outbox(3, 1_000, false, (i) => dropped.push(i.topic));
  assert.deepEqual(["a", "b", "c", "d", "e"].map((t) => box.push(item(t, 10))), [
    "queued",
    "queued",
    "queued",
    "dropped",
    "dropped",
  ]);
  assert.deepEqual(dropped, ["d", "e"]);
  assert.equal(box.size, 3);
  assert.equal(box.bytes, 30);
  assert.deepEqual(box.drain().map((i) => i.topic), ["a", "b", "c"]);
  assert.equal(box.size, 0);
  assert.equal(box.bytes, 0);
});

Deno.test("Outbox keeps its byte bound (drop-newest)", () => {
  const dropped: string[] = [];
  const box = new Outbox(100, 100, false, (i) => dropped.push(i.topic));
  box.push(item("a", 60));
  assert.equal(box.push(item("b", 41)), "dropped");
  assert.equal(box.push(item("c", 40)), "queued");
  assert.equal(box.bytes, 100);
  assert.deepEqual(dropped, ["b"]);
});

Deno.test("Outbox drop-oldest drops from the front until the new item fits", () => {
  const dropped: string[] = [];
  const box = new Outbox(3, 100, true, (i) => dropped.push(i.topic));
  box.push(item("a", 30));
  box.push(item("b", 30));
  box.push(item("c", 30));
  assert.equal(box.push(item("d", 10)), "queued"); // over the count: a goes
  assert.deepEqual(dropped, ["a"]);
  assert.equal(box.push(item("e", 70)), "queued"); // over the bytes: b, c go
  assert.deepEqual(dropped, ["a", "b", "c"]);
  assert.deepEqual(box.drain().map((i) => i.topic), ["d", "e"]);
});

Deno.test("Outbox drop-oldest refuses an item larger than the byte bound, dropping nothing else", () => {
  const dropped: string[] = [];
  const box = new Outbox(3, 100, true, (i) => dropped.push(i.topic));
  box.push(item("a", 50));
  assert.equal(box.push(item("huge", 101)), "dropped");
  assert.deepEqual(dropped, ["huge"]);
  assert.equal(box.size, 1);
});

Deno.test("Outbox bounds of 0 hold nothing", () => {
  const dropped: string[] = [];
  for (const dropOldest of [false, true]) {
    const box = new Outbox(0, 100, dropOldest, (i) => dropped.push(i.topic));
    assert.equal(box.push(item("a", 1)), "dropped");
  }
  assert.deepEqual(dropped, ["a", "a"]);
});

Deno.test("Outbox.remove() takes a request out by id, and its bytes", () => {
  const box = new Outbox(10, 1_000, false, () => {});
  box.push(item("a", 10));
  box.push(item("r", 20, 7));
  box.push(item("b", 30));
  assert.equal(box.remove(8), false);
  assert.equal(box.remove(7), true);
  assert.equal(box.bytes, 40);
  assert.deepEqual(box.drain().map((i) => i.topic), ["a", "b"]);
});

Deno.test("Outbox.shift() stays correct over many pushes and shifts (compaction)", () => {
  const box = new Outbox(1_000, 1e9, false, () => {});
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 37; i++) box.push(item(String(next++), 1));
    for (let i = 0; i < 30; i++) assert.equal(box.shift()!.topic, String(expected++));
  }
  assert.equal(box.size, next - expected);
  assert.equal(box.bytes, next - expected);
  assert.equal(box.peek()!.topic, String(expected));
});

Deno.test("utf8Length counts like TextEncoder", () => {
  const encoder = new TextEncoder();
  for (
    const text of ["", "abc", "é", "€", "😀", "a😀b", "\ud800", "\udc00x", "x\ud800", "日本語"]
  ) {
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
});

Deno.test("sent while offline: queued in order, sent on open, in order", async () => {
  const { client, server } = rig({}, { autoAccept: false });
  assert.equal(client.send("a", 1), "queued");
  assert.equal(client.send("b", 2), "queued");
  assert.equal(client.stats.queued, 2);
  assert.equal(client.stats.queuedBytes, 2 * utf8Length('{"topic":"a","data":1}'));
  await settle();
  server.accept(server.net.last);
  await settle();
  assert.deepEqual(server.received, [{ topic: "a", data: 1 }, { topic: "b", data: 2 }]);
  assert.equal(client.send("c", 3), "sent");
  assert.equal(client.stats.queued, 0);
  assert.equal(client.stats.sent, 3);
  await client.close();
});

Deno.test("the queue's message bound holds: 256 by default, then drops are counted and reported", async () => {
  const { client } = rig({}, { autoAccept: false });
  const drops: DropEvent[] = [];
  client.events.on("drop", (e) => drops.push(e));
  const results = Array.from({ length: 300 }, (_, i) => client.send("m", i));
  assert.equal(results.filter((r) => r === "queued").length, 256);
  assert.equal(results.filter((r) => r === "dropped").length, 44);
  assert.equal(client.stats.queued, 256);
  assert.equal(client.stats.dropped, 44);
  assert.equal(drops.length, 44);
  const bytes = utf8Length('{"topic":"m","data":299}');
  assert.deepEqual(drops.at(-1), { reason: "queue-full", topic: "m", bytes, request: false });
  assert.equal(client.stats.droppedBytes, drops.reduce((n, d) => n + d.bytes, 0));
  await client.close();
});

Deno.test("the queue's byte bound holds: 1 MiB by default", async () => {
  const { client } = rig({}, { autoAccept: false });
  const text = "x".repeat(100_000);
  const results = Array.from({ length: 12 }, () => client.send("big", text));
  assert.deepEqual(results.filter((r) => r === "queued").length, 10);
  assert.ok(client.stats.queuedBytes <= 1_048_576);
  assert.equal(client.stats.dropped, 2);
  await client.close();
});

Deno.test("drop-oldest keeps the newest messages and reports the oldest", async () => {
  const { client, server } = rig({
    maxQueueMessages: 3,
    overflow: "drop-oldest",
  }, { autoAccept: false });
  const drops: DropEvent[] = [];
  client.events.on("drop", (e) => drops.push(e));
  for (let i = 0; i < 5; i++) assert.equal(client.send("m", i), "queued");
  assert.equal(drops.length, 2);
  await settle();
  server.accept(server.net.last);
  await settle();
  assert.deepEqual(server.received.map((e) => e.data), [2, 3, 4]);
  await client.close();
});

Deno.test("a request dropped by the queue rejects with RequestDroppedError and is reported", async () => {
  const { client } = rig({ maxQueueMessages: 1, overflow: "drop-oldest" }, { autoAccept: false });
  const drops: DropEvent[] = [];
  client.events.on("drop", (e) => drops.push(e));
  const first = client.request("save", 1);
  client.send("m", 2);
  await assert.rejects(first, (e) => e instanceof RequestDroppedError && e.reason === "queue-full");
  assert.equal(drops[0].request, true);
  assert.equal(drops[0].topic, "save");
  assert.equal(client.stats.dropped, 1);
  await client.close();
});

Deno.test("close() drops what is still queued: counted, reported as closed", async () => {
  const { client } = rig({}, { autoAccept: false });
  const drops: DropEvent[] = [];
  client.events.on("drop", (e) => drops.push(e));
  client.send("a", 1);
  client.send("b", 2);
  await client.close();
  assert.deepEqual(drops.map((d) => [d.topic, d.reason]), [["a", "closed"], ["b", "closed"]]);
  assert.equal(client.stats.dropped, 2);
  assert.equal(client.stats.queued, 0);
  assert.equal(client.send("c", 3), "closed");
});

Deno.test("the server's maxMessageBytes, once known, is checked at the call site (RangeError), offline too", async () => {
  const { client, server, retry } = rig({}, { limits: { maxMessageBytes: 100 } });
  await settle();
  server.down = true;
  server.dropAll();
  await settle();
  // While offline the limit is still known: the call site gets a RangeError.
  assert.throws(() => client.send("big", "x".repeat(200)), RangeError);
  server.down = false;
  await retry();
  assert.equal(client.state, "open");
  await client.close();
});

Deno.test("a queued message that the server's limit, learned later, refuses is dropped as too-large", async () => {
  const { client, server } = rig({}, { autoAccept: false, limits: { maxMessageBytes: 100 } });
  const drops: DropEvent[] = [];
  client.events.on("drop", (e) => drops.push(e));
  client.send("big", "x".repeat(200)); // the limit is not known yet
  client.send("small", 1);
  await settle();
  server.accept(server.net.last);
  await settle();
  assert.deepEqual(drops.map((d) => [d.topic, d.reason]), [["big", "too-large"]]);
  assert.deepEqual(server.received.map((e) => e.topic), ["small"]);
  await client.close();
});

Deno.test("a message sent on a socket that is closing waits for the next connection", async () => {
  const { client, server, net, retry } = rig();
  await settle();
  net.last.readyState = 2; // the server started closing; the close event is on its way
  assert.equal(client.send("a", 1), "queued");
  net.last.fireClose(1001);
  await retry();
  assert.deepEqual(server.received, [{ topic: "a", data: 1 }]);
  await client.close();
});
