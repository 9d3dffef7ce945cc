/** A message or request waiting to be sent. */
export interface Item {
  /** Its JSON text. */
  readonly text: string;
  /** Its UTF-8 bytes. */
  readonly bytes: number;
  /** Its topic or request name. */
  readonly topic: string;
  /** A request's id; `undefined` for a message. */
  readonly id?: number;
}

/**
 * The offline queue: items in order, bounded by a count and by bytes.
 * When an item does not fit, `drop-newest` refuses it; `drop-oldest`
 * drops from the front until it fits (an item larger than the byte bound
 * alone is refused without dropping anything). Each drop goes to `onDrop`.
 *
 * Complexity: `push` amortized O(1) per item dropped or added, `shift` O(1)
 * amortized, `remove` O(n).
 */
export class Outbox {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #dropOldest: boolean;
  readonly #onDrop: (item: Item) => void;
  #items: Item[] = [];
  #head = 0;
  #bytes = 0;

  constructor(
    maxMessages: number,
    maxBytes: number,
    dropOldest: boolean,
    onDrop: (item: Item) => void,
  ) {
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
    this.#dropOldest = dropOldest;
    this.#onDrop = onDrop;
  }

  /** Items waiting. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Their bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues an item, or drops it (or older ones) to keep the bounds.
   *
   * @returns `"queued"`, or `"dropped"` if `item` itself was dropped.
   */
  push(item: Item): "queued" | "dropped" {
    const fits = () =>
      this.size + 1 <= this.#maxMessages && this.#bytes + item.bytes <= this.#maxBytes;
    if (!fits() && (!this.#dropOldest || item.bytes > this.#maxBytes || this.#maxMessages < 1)) {
      this.#onDrop(item);
      return "dropped";
    }
    while (!fits()) this.#onDrop(this.shift()!);
    this.#items.push(item);
    this.#bytes += item.bytes;
    return "queued";
  }

  /** The first item, left in place. */
  peek(): Item | undefined {
    return this.#items[this.#head];
  }

  /** Takes the first item. */
  shift(): Item | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as unknown as Item; // let it be collected
    this.#bytes -= item.bytes;
    if (this.#head >= 64 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes the request with this id, if it is waiting. */
  remove(id: number): boolean {
    for (let i = this.#head; i < this.#items.length; i++) {
      if (this.#items[i].id === id) {
        this.#bytes -= this.#items[i].bytes;
        this.#items.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** Takes every item, in order. */
  drain(): Item[] {
    const items = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    return items;
  }
}
