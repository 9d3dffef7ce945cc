import { RingBuffer } from "./ring_buffer.ts";

/** One outgoing frame with its size, shared by every queue a publish reaches. */
export interface Frame {
  /** A string for a text frame, bytes for a binary frame. */
  readonly data: string | Uint8Array<ArrayBuffer>;
  /** The frame's payload size in bytes (UTF-8 for text). */
  readonly bytes: number;
}

/**
 * What a send queue does with a message that does not fit.
 *
 * - `"close"`: close the session with 1013 and a `QueueFullError` cause;
 *   nothing more is sent to it.
 * - `"drop-oldest"`: drop queued messages, oldest first, until it fits.
 * - `"drop-newest"`: drop the message that does not fit.
 */
export type OverflowPolicy = "close" | "drop-oldest" | "drop-newest";

/** The outcome of {@linkcode SendQueue.push}. */
export type PushResult =
  /** Queued; nothing dropped. */
  | { readonly kind: "queued" }
  /** Queued after dropping older messages (`drop-oldest`). */
  | { readonly kind: "queued"; readonly dropped: number; readonly droppedBytes: number }
  /** The new message was dropped (`drop-newest`, or larger than the whole bound). */
  | { readonly kind: "dropped" }
  /** Under `close`: the message does not fit; the caller closes the session. */
  | { readonly kind: "overflow" };

const _QUEUED: PushResult = Object.freeze({ kind: "queued" });
const _DROPPED: PushResult = Object.freeze({ kind: "dropped" });
const _OVERFLOW: PushResult = Object.freeze({ kind: "overflow" });

/**
 * A per-session queue of outgoing frames, bounded by messages and by bytes.
 * It holds no storage until the first push.
 *
 * | operation | complexity |
 * | --- | --- |
 * | `push()` | O(1) amortized (`drop-oldest`: O(k) for k dropped) |
 * | `shift()`, `peek()` | O(1) |
 * | `clear()` | O(n) |
 */
export class SendQueue {
  #ring: RingBuffer<Frame> | undefined;
  #bytes = 0;
  #peakMessages = 0;
  #peakBytes = 0;
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly policy: OverflowPolicy;

  constructor(maxMessages: number, maxBytes: number, policy: OverflowPolicy) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
    this.policy = policy;
  }

  /** Frames queued now. */
  get length(): number {
    return this.#ring?.length ?? 0;
  }

  /** Bytes queued now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The most frames ever queued at once. */
  get peakMessages(): number {
    return this.#peakMessages;
  }

  /** The most bytes ever queued at once. */
  get peakBytes(): number {
    return this.#peakBytes;
  }

  /** Appends a frame, applying the overflow policy if it does not fit. */
  push(frame: Frame): PushResult {
    const ring = this.#ring ??= new RingBuffer<Frame>(this.maxMessages);
    let result = _QUEUED;
    if (ring.length >= this.maxMessages || this.#bytes + frame.bytes > this.maxBytes) {
      if (this.policy === "close") return _OVERFLOW;
      if (this.policy === "drop-newest" || frame.bytes > this.maxBytes) return _DROPPED;
      let dropped = 0;
      let droppedBytes = 0;
      while (ring.length >= this.maxMessages || this.#bytes + frame.bytes > this.maxBytes) {
        const old = ring.shift()!;
        this.#bytes -= old.bytes;
        dropped++;
        droppedBytes += old.bytes;
      }
      result = { kind: "queued", dropped, droppedBytes };
    }
    ring.push(frame);
    this.#bytes += frame.bytes;
    if (ring.length > this.#peakMessages) this.#peakMessages = ring.length;
    if (this.#bytes > this.#peakBytes) this.#peakBytes = this.#bytes;
    return result;
  }

  /** The oldest frame, left in place. */
  peek(): Frame | undefined {
    return this.#ring?.peek();
  }

  /** Removes and returns the oldest frame. */
  shift(): Frame | undefined {
    const frame = this.#ring?.shift();
    if (frame !== undefined) this.#bytes -= frame.bytes;
    return frame;
  }

  /** Empties the queue and releases its storage. */
  clear(): void {
    this.#ring = undefined;
    this.#bytes = 0;
  }
}
