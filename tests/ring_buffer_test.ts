import assert from "node:assert/strict";
import { RingBuffer } from "../src/ring_buffer.ts";

Deno.test("RingBuffer rounds maxCapacity up to a power of two", async (t) => {
  const table: [number, number][] = [
    [1, 1],
    [2, 2],
    [3, 4],
    [5, 8],
    [8, 8],
    [9, 16],
    [1000, 1024],
    [
      1025,
      2048,
    ],
    [2 ** 30, 2 ** 30],
  ];
  for (const [given, expected] of table) {
    await t.step(`${given} -> ${expected}`, () => {
      assert.equal(new RingBuffer(given).maxCapacity, expected);
    });
  }
});

Deno.test("RingBuffer holds no storage before the first push", () => {
  const ring = new RingBuffer<number>(1024);
  assert.equal(ring.capacity, 0);
  assert.equal(ring.length, 0);
  assert.equal(ring.full, false);
  assert.equal(ring.shift(), undefined);
  assert.equal(ring.peek(), undefined);
  assert.deepEqual([...ring], []);
  ring.clear();
  assert.equal(ring.capacity, 0, "shift, peek, clear and iteration allocate nothing");
  ring.push(1);
  assert.equal(ring.capacity, 8);
});

Deno.test("RingBuffer grows by doubling up to its bound", () => {
  const ring = new RingBuffer<number>(100);
  const capacities: number[] = [];
  for (let i = 0; i < 128; i++) {
    assert.equal(ring.push(i), true);
    capacities.push(ring.capacity);
  }
  assert.deepEqual([...new Set(capacities)], [8, 16, 32, 64, 128]);
  assert.equal(ring.full, true);
  assert.equal(ring.push(128), false);
  assert.equal(ring.capacity, 128);
  assert.deepEqual([...ring], Array.from({ length: 128 }, (_, i) => i));
});

Deno.test("RingBuffer starts below 8 slots when its bound is smaller", () => {
  const ring = new RingBuffer<string>(3);
  ring.push("a");
  assert.equal(ring.capacity, 4);
  assert.equal(ring.maxCapacity, 4);
});

Deno.test("RingBuffer.push() overwrites nothing when full", () => {
  const ring = new RingBuffer<string>(4);
  for (const item of ["a", "b", "c", "d"]) assert.equal(ring.push(item), true);
  assert.equal(ring.full, true);
  assert.equal(ring.push("e"), false);
  assert.equal(ring.push("f"), false);
  assert.equal(ring.length, 4);
  assert.deepEqual([...ring], ["a", "b", "c", "d"]);
  assert.equal(ring.shift(), "a");
  assert.equal(ring.full, false);
  assert.equal(ring.push("e"), true);
  assert.deepEqual([...ring], ["b", "c", "d", "e"]);
});

Deno.test("RingBuffer keeps FIFO order across wrap-around", () => {
  const ring = new RingBuffer<number>(8);
  const expected: number[] = [];
  let next = 0;
  // Interleave pushes and shifts so the head walks around the ring many times.
  for (let round = 0; round < 50; round++) {
    const pushes = (round * 7) % 5 + 1;
    for (let i = 0; i < pushes && !ring.full; i++) {
      ring.push(next);
      expected.push(next++);
    }
    const shifts = (round * 3) % 4 + 1;
    for (let i = 0; i < shifts && ring.length > 0; i++) {
      assert.equal(ring.shift(), expected.shift());
    }
    assert.deepEqual([...ring], expected);
    assert.equal(ring.peek(), expected[0]);
  }
  assert.ok(next > 8 * 3, "the head wrapped around several times");
});

Deno.test("RingBuffer keeps FIFO order when it grows after wrapping", () => {
  const ring = new RingBuffer<number>(64);
  for (let i = 0; i < 8; i++) ring.push(i);
  for (let i = 0; i < 5; i++) assert.equal(ring.shift(), i);
  for (let i = 8; i < 13; i++) ring.push(i); // wraps inside the 8 slots
  assert.equal(ring.capacity, 8);
  ring.push(13); // grows to 16 with the head in the middle
  assert.equal(ring.capacity, 16);
  assert.deepEqual([...ring], [5, 6, 7, 8, 9, 10, 11, 12, 13]);
  for (let i = 5; i < 14; i++) assert.equal(ring.shift(), i);
  assert.equal(ring.length, 0);
});

Deno.test("RingBuffer.shift() releases its reference to the item", () => {
  const ring = new RingBuffer<object>(4);
  const a = { name: "a" };
  const b = { name: "b" };
  ring.push(a);
  ring.push(b);
  assert.equal(ring.shift(), a);
  assert.equal(ring.peek(), b);
  assert.deepEqual([...ring], [b]);
  assert.equal(ring.shift(), b);
  assert.equal(ring.peek(), undefined);
  assert.deepEqual([...ring], []);
});

Deno.test("RingBuffer.shift() and clear() let the garbage collector take the items", async () => {
  // The slots are private, so this watches the items with WeakRefs in a child
  // process that can call gc(). An item still in the ring is the control.
  const url = new URL("../src/ring_buffer.ts", import.meta.url).href;
  const code = `
    import { RingBuffer } from ${JSON.stringify(url)};
    const ring = new RingBuffer(8);
    const refs = {};
    (() => {
      const shifted = { name: "shifted" }, cleared = { name: "cleared" }, kept = { name: "kept" };
      refs.shifted = new WeakRef(shifted);
      refs.cleared = new WeakRef(cleared);
      refs.kept = new WeakRef(kept);
      ring.push(shifted);
      ring.shift();
      ring.push(cleared);
      ring.clear();
      ring.push(kept);
    })();
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    console.log(JSON.stringify({
      shifted: refs.shifted.deref() === undefined,
      cleared: refs.cleared.deref() === undefined,
      kept: refs.kept.deref() !== undefined && ring.length === 1,
    }));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", code],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const collected = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.deepEqual(collected, { shifted: true, cleared: true, kept: true });
});

Deno.test("RingBuffer.clear() empties the ring and keeps its slots", () => {
  const ring = new RingBuffer<number>(16);
  for (let i = 0; i < 10; i++) ring.push(i);
  for (let i = 0; i < 3; i++) ring.shift();
  const capacity = ring.capacity;
  ring.clear();
  assert.equal(ring.length, 0);
  assert.equal(ring.capacity, capacity);
  assert.equal(ring.peek(), undefined);
  assert.equal(ring.shift(), undefined);
  assert.deepEqual([...ring], []);
  ring.push(42);
  assert.deepEqual([...ring], [42]);
  assert.equal(ring.peek(), 42);
});

Deno.test("RingBuffer iterates oldest to newest without removing", () => {
  const ring = new RingBuffer<string>(4);
  ring.push("x");
  ring.push("y");
  ring.shift();
  ring.push("z");
  ring.push("w");
  ring.push("v");
  assert.deepEqual([...ring], ["y", "z", "w", "v"]);
  assert.deepEqual([...ring], ["y", "z", "w", "v"], "iterating twice gives the same items");
  assert.equal(ring.length, 4);
  const iterator = ring[Symbol.iterator]();
  assert.deepEqual(iterator.next(), { value: "y", done: false });
});

Deno.test("RingBuffer stores undefined and null items like any other", () => {
  const ring = new RingBuffer<number | null | undefined>(4);
  ring.push(undefined);
  ring.push(null);
  assert.equal(ring.length, 2);
  assert.deepEqual([...ring], [undefined, null]);
  assert.equal(ring.shift(), undefined);
  assert.equal(ring.length, 1);
});

Deno.test("RingBuffer throws RangeError on a bad maxCapacity", async (t) => {
  for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 30 + 1, "8" as unknown as number]) {
    await t.step(String(bad), () => {
      assert.throws(() => new RingBuffer(bad), RangeError);
    });
  }
});

Deno.test("RingBuffer.at() reads a position from the head, across the wrap", () => {
  const ring = new RingBuffer<number>(4);
  for (const n of [1, 2, 3, 4]) ring.push(n);
  ring.shift();
  ring.shift();
  ring.push(5);
  assert.deepEqual([0, 1, 2].map((i) => ring.at(i)), [3, 4, 5]);
  assert.equal(ring.at(3), undefined);
  assert.equal(ring.at(-1), undefined);
});
