/**
 * A bounded first-in-first-out queue on a ring of slots.
 *
 * The ring holds no storage until the first {@linkcode RingBuffer.push}, then
 * grows by doubling (8, 16, 32, ...) up to `maxCapacity` rounded up to a power
 * of two. Once it has grown to the size a workload needs, pushing and shifting
 * allocate nothing.
 *
 * | operation | complexity |
 * | --- | --- |
 * | `push()` | O(1) amortized; O(n) on the push that doubles the ring |
 * | `shift()`, `peek()`, `at()` | O(1) |
 * | `length`, `capacity`, `full` | O(1) |
 * | `clear()` | O(n) |
 * | iteration | O(n) |
 *
 * @typeParam T The type of the items.
 *
 * @example Usage
 * ```ts
 * import { RingBuffer } from "./ring_buffer.ts";
 * import assert from "node:assert/strict";
 *
 * const ring = new RingBuffer<string>(2);
 * ring.push("a");
 * ring.push("b");
 * assert.equal(ring.push("c"), false); // full: nothing is overwritten
 * assert.equal(ring.shift(), "a");
 * assert.deepEqual([...ring], ["b"]);
 * ```
 */
export class RingBuffer<T> implements Iterable<T> {
  #slots: (T | undefined)[] = _EMPTY as unknown as (T | undefined)[];
  #mask = -1;
  #head = 0;
  #length = 0;
  readonly #max: number;

  /**
   * Creates an empty ring that holds at most `maxCapacity` items.
   *
   * @param maxCapacity The most items the ring holds; rounded up to a power of two.
   * @throws {RangeError} If `maxCapacity` is not an integer from 1 to 2^30.
   */
  constructor(maxCapacity: number) {
    if (!Number.isInteger(maxCapacity) || maxCapacity < 1 || maxCapacity > 2 ** 30) {
      throw new RangeError(
        `Cannot create RingBuffer: maxCapacity must be an integer from 1 to 2^30, got ${maxCapacity}`,
      );
    }
    this.#max = 2 ** Math.ceil(Math.log2(maxCapacity));
  }

  /** The number of items in the ring. */
  get length(): number {
    return this.#length;
  }

  /** The number of slots allocated now (0 until the first push). */
  get capacity(): number {
    return this.#slots.length;
  }

  /** The most items the ring can hold: a power of two. */
  get maxCapacity(): number {
    return this.#max;
  }

  /** Whether the ring holds `maxCapacity` items. */
  get full(): boolean {
    return this.#length === this.#max;
  }

  /**
   * Appends an item at the tail, growing the ring if needed.
   *
   * @param item The item to append.
   * @returns `true` if appended, `false` if the ring is full (nothing is overwritten).
   */
  push(item: T): boolean {
    if (this.#length === this.#slots.length) {
      if (this.#length === this.#max) return false;
      this.#grow();
    }
    this.#slots[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
    return true;
  }

  /**
   * Removes and returns the item at the head.
   *
   * @returns The oldest item, or `undefined` if the ring is empty.
   */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#slots[this.#head];
    this.#slots[this.#head] = undefined; // release the reference
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /**
   * Returns the item at the head without removing it.
   *
   * @returns The oldest item, or `undefined` if the ring is empty.
   */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#slots[this.#head];
  }

  /**
   * Returns the item at a position from the head, without removing it.
   *
   * @param index 0 for the oldest item, `length - 1` for the newest.
   * @returns The item, or `undefined` if `index` is out of range.
   */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    return this.#slots[(this.#head + index) & this.#mask];
  }

  /** Removes every item, keeping the allocated slots. */
  clear(): void {
    for (let i = 0; i < this.#length; i++) {
      this.#slots[(this.#head + i) & this.#mask] = undefined;
    }
    this.#head = 0;
    this.#length = 0;
  }

  /**
   * Iterates from the oldest item to the newest, without removing them.
   *
   * @returns An iterator over the items.
   */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#length; i++) {
      yield this.#slots[(this.#head + i) & this.#mask] as T;
    }
  }

  #grow(): void {
    const size = Math.min(this.#max, Math.max(_INITIAL_SLOTS, this.#slots.length * 2));
    const slots = new Array<T | undefined>(size);
    for (let i = 0; i < this.#length; i++) {
      slots[i] = this.#slots[(this.#head + i) & this.#mask];
    }
    this.#slots = slots;
    this.#mask = size - 1;
    this.#head = 0;
  }
}

const _INITIAL_SLOTS = 8;
const _EMPTY: readonly never[] = Object.freeze([]);
