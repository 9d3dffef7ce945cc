import assert from "node:assert/strict";
import { MemoryHistory, type Recovery } from "../src/history.ts";
import { FakeTimers } from "./_fake_socket.ts";

/** The head of a room message `n`, as the server encodes it: `{..,"seq":`. */
function head(n: number, pad = ""): string {
  return `{"topic":"n","data":"${pad}${n}","room":"r","seq":`;
}

/** Appends messages `from`..`to` to room `room`. */
function fill(history: MemoryHistory, room: string, from: number, to: number, pad = ""): void {
  for (let n = from; n <= to; n++) history.append(room, head(n, pad), head(n, pad).length);
}

function seqs(recovery: Recovery | undefined): number[] | string {
  assert.ok(recovery !== undefined, "the room has a history");
  return recovery.recovered ? recovery.entries.map((e) => e.seq) : recovery.reason;
}

Deno.test("MemoryHistory.append() numbers a room's messages from 1 and makes each frame once", () => {
  const history = new MemoryHistory();
  const first = history.append("r", head(1), head(1).length);
  const second = history.append("r", head(2), head(2).length);
  const other = history.append("s", head(1), head(1).length);
  assert.deepEqual([first.seq, second.seq, other.seq], [1, 2, 1]);
  assert.equal(first.data, `${head(1)}1}`);
  assert.deepEqual(JSON.parse(second.data), { topic: "n", data: "2", room: "r", seq: 2 });
  assert.equal(second.bytes, new TextEncoder().encode(second.data).length);
  const multibyte = history.append("r", '{"topic":"é","seq":', 20);
  assert.equal(multibyte.bytes, 20 + 2, "the head's bytes as given, plus the digit and the brace");
  assert.deepEqual(history.position("r")?.seq, 3);
});

Deno.test("MemoryHistory.hold() starts a room at seq 0 with a random epoch", () => {
  const history = new MemoryHistory();
  assert.equal(history.tracks("a"), false);
  assert.equal(history.position("a"), undefined);
  const a = history.hold("a");
  const b = history.hold("b");
  assert.equal(a.seq, 0);
  assert.match(a.epoch, /^[0-9a-f]{12}$/);
  assert.notEqual(a.epoch, b.epoch);
  assert.equal(history.tracks("a"), true);
  assert.deepEqual(history.hold("a"), a, "a second hold keeps the position");
});

Deno.test("MemoryHistory.since() replays in order what came after a position, or says why not", async (t) => {
  const history = new MemoryHistory({ maxMessages: 5 });
  const { epoch } = history.hold("r");
  fill(history, "r", 1, 8); // the window holds 4..8
  await t.step("every message after it, in order", () => {
    assert.deepEqual(seqs(history.since("r", { seq: 5, epoch })), [6, 7, 8]);
    assert.deepEqual(seqs(history.since("r", { seq: 3, epoch })), [4, 5, 6, 7, 8]);
  });
  await t.step("none at the last position", () => {
    assert.deepEqual(seqs(history.since("r", { seq: 8, epoch })), []);
  });
  await t.step("a gap: the window starts after it", () => {
    assert.equal(seqs(history.since("r", { seq: 2, epoch })), "gap");
    assert.equal(seqs(history.since("r", { seq: 0, epoch })), "gap");
  });
  await t.step("another epoch, or a position ahead of the room's", () => {
    assert.equal(seqs(history.since("r", { seq: 5, epoch: "000000000000" })), "epoch");
    assert.equal(seqs(history.since("r", { seq: 9, epoch })), "epoch");
  });
  await t.step("the room's position comes with the answer", () => {
    assert.deepEqual(history.since("r", { seq: 1, epoch })?.position, { seq: 8, epoch });
  });
  await t.step("a room without a history has no answer", () => {
    assert.equal(history.since("nowhere", { seq: 1, epoch }), undefined);
  });
});

Deno.test("MemoryHistory bounds each room by messages and bytes, and counts every eviction", () => {
  const history = new MemoryHistory({ maxMessages: 3, maxBytes: 250 });
  fill(history, "count", 1, 10);
  assert.deepEqual(history.stats.messages, 3);
  assert.equal(history.stats.evicted, 7);
  const { epoch } = history.hold("count");
  assert.deepEqual(seqs(history.since("count", { seq: 7, epoch })), [8, 9, 10]);

  const big = "x".repeat(60); // each frame 112 bytes: two fit in 250
  fill(history, "bytes", 1, 4, big);
  const bytes = history.hold("bytes");
  assert.deepEqual(seqs(history.since("bytes", { seq: 2, epoch: bytes.epoch })), [3, 4]);
  assert.equal(seqs(history.since("bytes", { seq: 1, epoch: bytes.epoch })), "gap");
  assert.equal(history.stats.evicted, 7 + 2);
  assert.equal(history.stats.messages, 3 + 2);

  // A message larger than the room's bound is evicted at once: a gap, never a partial replay.
  history.append("bytes", head(5, "y".repeat(300)), 350);
  assert.equal(seqs(history.since("bytes", { seq: 4, epoch: bytes.epoch })), "gap");
  assert.deepEqual(seqs(history.since("bytes", { seq: 5, epoch: bytes.epoch })), []);
  assert.equal(history.stats.evicted, 7 + 2 + 3);
});

Deno.test("MemoryHistory evicts messages older than maxAge", () => {
  const timers = new FakeTimers();
  const history = new MemoryHistory({ maxAge: 1000, now: timers.now });
  const { epoch } = history.hold("r");
  fill(history, "r", 1, 2);
  timers.tick(600);
  fill(history, "r", 3, 4);
  timers.tick(399);
  assert.deepEqual(seqs(history.since("r", { seq: 0, epoch })), [1, 2, 3, 4]);
  timers.tick(1);
  assert.equal(seqs(history.since("r", { seq: 0, epoch })), "gap");
  assert.deepEqual(seqs(history.since("r", { seq: 2, epoch })), [3, 4]);
  assert.equal(history.stats.evicted, 2);
  timers.tick(600);
  assert.equal(seqs(history.since("r", { seq: 2, epoch })), "gap");
  assert.deepEqual(seqs(history.since("r", { seq: 4, epoch })), [], "the position stays");
  assert.deepEqual(history.stats, { rooms: 1, messages: 0, bytes: 0, evicted: 4, roomsDropped: 0 });
});

Deno.test("MemoryHistory past maxTotalBytes evicts the oldest messages of any room first", () => {
  const history = new MemoryHistory({ maxTotalBytes: 1000 });
  const frame = head(1, "x".repeat(60)).length + 2; // about 100 bytes a message
  fill(history, "old", 1, 5, "x".repeat(60));
  fill(history, "new", 1, 4, "x".repeat(60));
  assert.equal(history.stats.evicted, 0);
  fill(history, "new", 5, 7, "x".repeat(60)); // 12 messages: 2 over
  const stats = history.stats;
  assert.ok(stats.bytes <= 1000, `${stats.bytes} bytes kept`);
  assert.equal(stats.evicted, 12 - Math.floor(1000 / frame));
  const old = history.hold("old");
  const young = history.hold("new");
  assert.equal(seqs(history.since("old", { seq: 0, epoch: old.epoch })), "gap");
  assert.deepEqual(seqs(history.since("old", { seq: stats.evicted, epoch: old.epoch })), [
    ...Array.from({ length: 5 - stats.evicted }, (_, i) => stats.evicted + 1 + i),
  ]);
  assert.deepEqual(seqs(history.since("new", { seq: 0, epoch: young.epoch })), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
  ]);
});

Deno.test("MemoryHistory drops a room neither held nor sent to for maxAge; its next epoch is new", () => {
  const timers = new FakeTimers();
  const history = new MemoryHistory({ maxAge: 1000, now: timers.now });
  const held = history.hold("held");
  const first = history.hold("quiet");
  fill(history, "quiet", 1, 3);
  history.release("quiet");
  timers.tick(999);
  fill(history, "busy", 1, 1); // never held: quiet from its last message
  assert.equal(history.tracks("quiet"), true);
  timers.tick(1);
  assert.equal(history.tracks("quiet"), false, "dropped once quiet for maxAge");
  assert.equal(history.tracks("held"), true, "a held room stays");
  assert.equal(history.tracks("busy"), true);
  timers.tick(500);
  fill(history, "busy", 2, 2); // a message keeps it
  timers.tick(999);
  assert.equal(history.tracks("busy"), true);
  timers.tick(1);
  assert.equal(history.tracks("busy"), false);
  assert.equal(history.stats.roomsDropped, 2);
  assert.deepEqual(history.hold("held"), held);
  const second = history.hold("quiet");
  assert.equal(second.seq, 0);
  assert.notEqual(second.epoch, first.epoch);
  assert.equal(seqs(history.since("quiet", { seq: 3, epoch: first.epoch })), "epoch");
  assert.deepEqual(history.stats, { rooms: 2, messages: 0, bytes: 0, evicted: 5, roomsDropped: 2 });
});

Deno.test("MemoryHistory keeps a room held twice until both holds are released", () => {
  const timers = new FakeTimers();
  const history = new MemoryHistory({ maxAge: 10, now: timers.now });
  history.hold("r");
  history.hold("r");
  history.release("r");
  timers.tick(20);
  assert.equal(history.tracks("r"), true);
  history.release("r");
  history.release("r"); // one too many: nothing
  history.release("nowhere");
  timers.tick(10);
  assert.equal(history.tracks("r"), false);
});

Deno.test("MemoryHistory stays bounded under a long run of evictions", () => {
  const history = new MemoryHistory({ maxMessages: 4 });
  const { epoch } = history.hold("r");
  for (let n = 1; n <= 100_000; n++) history.append("r", head(n), head(n).length);
  assert.equal(history.stats.messages, 4);
  assert.equal(history.stats.evicted, 100_000 - 4);
  assert.equal(
    history.stats.bytes,
    [99_997, 99_998, 99_999, 100_000].reduce((sum, n) => sum + head(n).length + `${n}}`.length, 0),
  );
  assert.deepEqual(seqs(history.since("r", { seq: 99_996, epoch })), [
    99_997,
    99_998,
    99_999,
    100_000,
  ]);
});

Deno.test("MemoryHistory refuses bounds out of range", () => {
  for (
    const options of [{ maxMessages: 0 }, { maxBytes: 1.5 }, { maxAge: -1 }, { maxTotalBytes: NaN }]
  ) {
    assert.throws(() => new MemoryHistory(options), RangeError);
  }
  new MemoryHistory({ maxAge: Infinity }); // never ages
});
