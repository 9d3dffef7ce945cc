/**
 * What every server under test does, shared by the five scripts in this
 * folder so that they put the same bytes on the wire:
 *
 * - `GET /mem`: `{"rss": bytes, "heap": bytes, "members": n}`, the process
 *   RSS and the JS heap in use after a garbage collection (`--expose-gc` on
 *   Deno, `Bun.gc(true)` on Bun), and the room's size.
 * - A WebSocket upgrade needs `?token=t`, checked before the upgrade;
 *   anything else gets 401. Every connection joins {@linkcode ROOM}, except
 *   the publisher (`&pub=1`).
 * - Text `{"topic":"echo","data":x}` is answered with `{"topic":"echo","data":x}`.
 * - Text `{"topic":"fanout","data":{"count":P,"size":64}}` publishes P
 *   messages `{"topic":"tick","data":{"seq":i,"pad":"xx…"}}` of about
 *   `size` bytes to the room, one serialization each.
 */

/** The token a client must present as `?token=`. */
export const TOKEN = "t";

/** The one room every subscriber joins. */
export const ROOM = "room";

/** The first bytes of every published message; the load client reads `seq` after them. */
export const TICK_PREFIX = '{"topic":"tick","data":{"seq":';

/**
 * The padding that makes the message with `seq` 0 exactly `size` bytes long
 * (longer sequence numbers add their extra digits).
 *
 * @param size The wanted message size in bytes.
 * @returns A string of `x`.
 */
export function tickPad(size: number): string {
  const bare = JSON.stringify({ topic: "tick", data: { seq: 0, pad: "" } }).length;
  return "x".repeat(Math.max(0, size - bare));
}

/** The fan-out request of a control message. */
export interface FanoutRequest {
  /** How many messages to publish. */
  count: number;
  /** Each message's size in bytes. */
  size: number;
}

/**
 * Reads a fan-out control message's data.
 *
 * @param data The envelope's `data`.
 * @returns The request.
 * @throws {TypeError} If `count` or `size` is not a sane integer.
 */
export function fanoutRequest(data: unknown): FanoutRequest {
  const { count, size } = (data ?? {}) as Record<string, unknown>;
  if (!Number.isSafeInteger(count) || (count as number) < 0 || (count as number) > 1e7) {
    throw new TypeError(`Invalid fanout count: ${count}`);
  }
  if (!Number.isSafeInteger(size) || (size as number) < 0 || (size as number) > 1e6) {
    throw new TypeError(`Invalid fanout size: ${size}`);
  }
  return { count: count as number, size: size as number };
}

/** The little of a WebSocket that answers an echo. */
export interface EchoTarget {
  send(text: string): unknown;
}

/**
 * The text-message side of the raw servers (`raw_deno.ts`, `raw_bun.ts`,
 * `native_bun.ts`), which differ only in how a tick reaches the room.
 *
 * @param publish Sends one serialized tick to every member of {@linkcode ROOM}.
 * @returns A handler of one text message from `socket`: an echo is answered
 * on `socket`; a fan-out request publishes its ticks, each serialized once.
 * @throws {SyntaxError} (from the handler) If the text is not JSON.
 * @throws {TypeError} (from the handler) If a fan-out request is invalid.
 */
export function textHandler(
  publish: (text: string) => void,
): (socket: EchoTarget, text: string) => void {
  return (socket, text) => {
    const envelope = JSON.parse(text);
    if (envelope.topic === "echo") {
      socket.send(JSON.stringify({ topic: "echo", data: envelope.data }));
    } else if (envelope.topic === "fanout") {
      const { count, size } = fanoutRequest(envelope.data);
      const pad = tickPad(size);
      for (let seq = 0; seq < count; seq++) {
        publish(JSON.stringify({ topic: "tick", data: { seq, pad } }));
      }
    }
  };
}

/** What `GET /mem` answers. */
export interface MemReport {
  /** The process's RSS, in bytes, after a GC. */
  rss: number;
  /** The JS heap in use, in bytes, after a GC. */
  heap: number;
  /** Sessions in {@linkcode ROOM}. */
  members: number;
}

/**
 * Asks a server under test for its memory (`GET /mem`).
 *
 * @param port The server's port on 127.0.0.1.
 * @returns What it answered.
 * @throws {Error} If it did not answer 200.
 */
export async function fetchMem(port: number): Promise<MemReport> {
  const response = await fetch(`http://127.0.0.1:${port}/mem`);
  if (!response.ok) throw new Error(`GET /mem answered ${response.status}`);
  return await response.json();
}
