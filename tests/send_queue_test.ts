import assert from "node:assert/strict";
import { type Frame, SendQueue } from "../src/send_queue.ts";

function frame(name: string, bytes = name.length): Frame {
  return { data: name, bytes };
}

function names(queue: SendQueue): string[] {
  const out: string[] = [];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) out.push(f.data as string);
  return out;
}

Deno.test("SendQueue holds no storage and no bytes before the first push", () => {
  const queue = new SendQueue(4, 100, "close");
  assert.equal(queue.length, 0);
  assert.equal(queue.bytes, 0);
  assert.equal(queue.peek(), undefined);
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.peakMessages, 0);
  assert.equal(queue.peakBytes, 0);
});

Deno.test("SendQueue keeps frames in order and tracks their bytes", () => {
  const queue = new SendQueue(8, 100, "close");
  assert.deepEqual(queue.push(frame("a", 3)), { kind: "queued" });
  assert.deepEqual(queue.push(frame("b", 5)), { kind: "queued" });
  assert.equal(queue.length, 2);
  assert.equal(queue.bytes, 8);
  assert.equal(queue.peek()?.data, "a");
  assert.equal(queue.shift()?.data, "a");
  assert.equal(queue.bytes, 5);
  assert.equal(queue.shift()?.data, "b");
  assert.equal(queue.bytes, 0);
  assert.equal(queue.shift(), undefined);
});

Deno.test("SendQueue is bounded by messages", async (t) => {
  await t.step("close: the message that does not fit is an overflow", () => {
    const queue = new SendQueue(3, 1000, "close");
    for (const name of ["a", "b", "c"]) assert.equal(queue.push(frame(name)).kind, "queued");
    assert.deepEqual(queue.push(frame("d")), { kind: "overflow" });
    assert.equal(queue.length, 3);
    assert.deepEqual(names(queue), ["a", "b", "c"]);
  });
  await t.step("drop-newest: the new message is dropped", () => {
    const queue = new SendQueue(3, 1000, "drop-newest");
    for (const name of ["a", "b", "c"]) queue.push(frame(name));
    assert.deepEqual(queue.push(frame("d")), { kind: "dropped" });
    assert.deepEqual(names(queue), ["a", "b", "c"]);
  });
  await t.step("drop-oldest: the oldest message is dropped", () => {
    const queue = new SendQueue(3, 1000, "drop-oldest");
    for (const name of ["a", "b", "c"]) queue.push(frame(name));
    assert.deepEqual(queue.push(frame("d")), { kind: "queued", dropped: 1, droppedBytes: 1 });
    assert.equal(queue.bytes, 3);
    assert.deepEqual(names(queue), ["b", "c", "d"]);
  });
});

Deno.test("SendQueue is bounded by bytes", async (t) => {
  await t.step("a frame that fits exactly is queued", () => {
    const queue = new SendQueue(100, 10, "close");
    assert.equal(queue.push(frame("a", 4)).kind, "queued");
    assert.equal(queue.push(frame("b", 6)).kind, "queued");
    assert.equal(queue.bytes, 10);
  });
  await t.step("close: one byte over is an overflow", () => {
    const queue = new SendQueue(100, 10, "close");
    queue.push(frame("a", 4));
    queue.push(frame("b", 5));
    assert.deepEqual(queue.push(frame("c", 2)), { kind: "overflow" });
    assert.equal(queue.bytes, 9);
    assert.equal(queue.length, 2);
  });
  await t.step("drop-newest: one byte over is dropped", () => {
    const queue = new SendQueue(100, 10, "drop-newest");
    queue.push(frame("a", 4));
    queue.push(frame("b", 5));
    assert.deepEqual(queue.push(frame("c", 2)), { kind: "dropped" });
    // A smaller message that fits is still queued afterwards.
    assert.equal(queue.push(frame("d", 1)).kind, "queued");
    assert.deepEqual(names(queue), ["a", "b", "d"]);
  });
});

Deno.test("SendQueue with drop-oldest drops the fewest oldest frames that make room", async (t) => {
  await t.step("two of three frames for a 5-byte frame in 10 bytes", () => {
    const queue = new SendQueue(100, 10, "drop-oldest");
    queue.push(frame("a", 3));
    queue.push(frame("b", 3));
    queue.push(frame("c", 3));
    assert.deepEqual(queue.push(frame("d", 5)), { kind: "queued", dropped: 2, droppedBytes: 6 });
    assert.equal(queue.bytes, 8);
    assert.deepEqual(names(queue), ["c", "d"]);
  });
  await t.step("one large frame makes room for several small ones", () => {
    const queue = new SendQueue(100, 10, "drop-oldest");
    queue.push(frame("big", 8));
    queue.push(frame("a", 1));
    assert.deepEqual(queue.push(frame("b", 2)), { kind: "queued", dropped: 1, droppedBytes: 8 });
    assert.deepEqual(names(queue), ["a", "b"]);
  });
  await t.step("exactly enough: a frame that then fits exactly drops only one", () => {
    const queue = new SendQueue(100, 10, "drop-oldest");
    queue.push(frame("a", 5));
    queue.push(frame("b", 5));
    assert.deepEqual(queue.push(frame("c", 5)), { kind: "queued", dropped: 1, droppedBytes: 5 });
    assert.equal(queue.bytes, 10);
    assert.deepEqual(names(queue), ["b", "c"]);
  });
  await t.step("both bounds: messages and bytes together", () => {
    const queue = new SendQueue(2, 10, "drop-oldest");
    queue.push(frame("a", 1));
    queue.push(frame("b", 1));
    // Dropping "a" frees a message slot and a byte, enough for 9 bytes.
    assert.deepEqual(queue.push(frame("c", 9)), { kind: "queued", dropped: 1, droppedBytes: 1 });
    assert.equal(queue.bytes, 10);
    // Now a 1-byte frame needs a slot (the message bound) and the bytes of "b" and "c".
    assert.deepEqual(queue.push(frame("d", 1)), { kind: "queued", dropped: 1, droppedBytes: 1 });
    assert.deepEqual(queue.push(frame("e", 2)), { kind: "queued", dropped: 1, droppedBytes: 9 });
    assert.deepEqual(names(queue), ["d", "e"]);
  });
});

Deno.test("SendQueue drops a frame larger than maxBytes under every policy without touching the queue", async (t) => {
  const cases = [["close", "overflow"], ["drop-oldest", "dropped"], [
    "drop-newest",
    "dropped",
  ]] as const;
  for (const [policy, kind] of cases) {
    await t.step(policy, () => {
      const queue = new SendQueue(100, 10, policy);
      queue.push(frame("a", 2));
      queue.push(frame("b", 3));
      assert.deepEqual(queue.push(frame("huge", 11)), { kind });
      assert.equal(queue.bytes, 5);
      assert.deepEqual(names(queue), ["a", "b"]);
    });
  }
  await t.step("into an empty queue", () => {
    const queue = new SendQueue(100, 10, "drop-oldest");
    assert.deepEqual(queue.push(frame("huge", 11)), { kind: "dropped" });
    assert.equal(queue.length, 0);
    assert.equal(queue.bytes, 0);
  });
});

Deno.test("SendQueue does not round maxMessages up to the ring's power of two", () => {
  const queue = new SendQueue(3, 1000, "drop-newest");
  for (const name of ["a", "b", "c"]) queue.push(frame(name));
  assert.equal(queue.push(frame("d")).kind, "dropped");
  assert.equal(queue.length, 3);
});

Deno.test("SendQueue counts the peak messages and bytes it ever held", () => {
  const queue = new SendQueue(10, 100, "drop-oldest");
  queue.push(frame("a", 10));
  queue.push(frame("b", 20));
  queue.push(frame("c", 30));
  assert.equal(queue.peakMessages, 3);
  assert.equal(queue.peakBytes, 60);
  queue.shift();
  queue.shift();
  queue.push(frame("d", 5));
  assert.equal(queue.length, 2);
  assert.equal(queue.bytes, 35);
  assert.equal(queue.peakMessages, 3);
  assert.equal(queue.peakBytes, 60);
  queue.push(frame("e", 60)); // 95 bytes in three frames
  assert.equal(queue.peakBytes, 95);
  assert.equal(queue.peakMessages, 3);
  // Peaks are of what was held at once: a drop-oldest push that drops first
  // never counts the dropped and the new frame together.
  queue.push(frame("f", 50)); // drops c (30) and d (5): 60 + 50 = 110 > 100; drops e too
  assert.equal(queue.bytes, 50);
  assert.equal(queue.peakBytes, 95);
});

Deno.test("SendQueue.clear() empties the queue and keeps the peaks", () => {
  const queue = new SendQueue(10, 100, "close");
  queue.push(frame("a", 10));
  queue.push(frame("b", 20));
  queue.clear();
  assert.equal(queue.length, 0);
  assert.equal(queue.bytes, 0);
  assert.equal(queue.peek(), undefined);
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.peakMessages, 2);
  assert.equal(queue.peakBytes, 30);
  assert.equal(queue.push(frame("c", 100)).kind, "queued", "the full byte bound is free again");
  assert.deepEqual(names(queue), ["c"]);
});

Deno.test("SendQueue shares one frame object between queues", () => {
  const shared = frame("x", 1);
  const a = new SendQueue(4, 10, "close");
  const b = new SendQueue(4, 10, "close");
  a.push(shared);
  b.push(shared);
  assert.equal(a.shift(), shared);
  assert.equal(b.peek(), shared);
});
