/**
 * What every server under test does, shared by the five scripts in this
 * folder so that they put the same bytes on the wire:
 *
 * - `GET /mem`: `{"rss": bytes, "heap": bytes, "members": n}`, the process
 *   RSS and the JS heap in use after a forced garbage collection
 *   (`--expose-gc` on Deno, `Bun.gc(true)` on Bun), and the room's size;
 *   `GET /mem?gc=0` reads them as they are, without forcing a GC.
 * - A WebSocket upgrade needs `?token=t`, checked before the upgrade;
 *   anything else gets 401. Every connection joins {@linkcode ROOM}, except
 *   the publisher (`&pub=1`).
 * - Text `{"topic":"echo","data":x}` is answered with `{"topic":"echo","data":x}`.
 * - Text `{"topic":"fanout","data":{"count":P,"size":64}}` publishes P
 *   messages `{"topic":"tick","data":{"seq":i,"pad":"xx…"}}` of about
 *   `size` bytes to the room, one serialization each.
 * - Text `{"topic":"relay","data":x}` is relayed to every member of the
 *   room except its sender as `{"topic":"relay","data":x}`: parsed, then
 *   serialized once (as switchboard decodes and encodes an envelope). The
 *   relay publisher connects without `&pub=1`, so it is in the room and the
 *   exception is exercised; the load client sends
 *   `{"topic":"relay","data":{"seq":i,"pad":"xx…"}}`.
 */

/** The token a client must present as `?token=`. */
export const TOKEN = "t";

/** The one room every subscriber joins. */
export const ROOM = "room";

/** The first bytes of every published message; the load client reads `seq` after them. */
export const TICK_PREFIX = '{"topic":"tick","data":{"seq":';

/** The first bytes of every relayed message; the load client reads `seq` after them. */
export const RELAY_PREFIX = '{"topic":"relay","data":{"seq":';

/**
 * The padding that makes the message with `seq` 0 exactly `size` bytes long
 * (longer sequence numbers add their extra digits).
 *
 * @param size The wanted message size in bytes.
 * @param topic The message's topic: `"tick"` (fan-out) or `"relay"`.
 * @returns A string of `x`.
 */
export function tickPad(size: number, topic = "tick"): string {
  const bare = JSON.stringify({ topic, data: { seq: 0, pad: "" } }).length;
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

/**
 * The idle timeout of every server under load, in seconds: longer than any
 * run. A Deno server pings a client that sent nothing for half its idle
 * timeout and closes it at the timeout if no pong came back, and the ping
 * waits behind what the socket has buffered: at C=5000 a relay drains each
 * socket at ~20 frames a second, so a ping behind 64 KB arrives after
 * ~35 s, later than the 15 s switchboard's default (30 s) allows, and the
 * raw server's unbounded buffer delays it more. Runs closed a subscriber
 * that way (both servers); all of them get the same long timeout.
 */
export const IDLE_TIMEOUT = 960;

/** The little of a WebSocket that answers an echo. */
export interface EchoTarget {
  send(text: string): unknown;
}

/**
 * The text-message side of the raw servers (`raw_deno.ts`, `raw_bun.ts`,
 * `native_bun.ts`), which differ only in how a message reaches the room.
 *
 * @typeParam S The runtime's socket.
 * @param publish Sends one serialized tick to every member of {@linkcode ROOM}.
 * @param relay Sends one serialized relay message to every member of
 * {@linkcode ROOM} except `sender`.
 * @returns A handler of one text message from `socket`: an echo is answered
 * on `socket`; a fan-out request publishes its ticks, each serialized once;
 * a relay message is parsed, serialized once and relayed.
 * @throws {SyntaxError} (from the handler) If the text is not JSON.
 * @throws {TypeError} (from the handler) If a fan-out request is invalid.
 */
export function textHandler<S extends EchoTarget>(
  publish: (text: string) => void,
  relay: (sender: S, text: string) => void,
): (socket: S, text: string) => void {
  return (socket, text) => {
    const envelope = JSON.parse(text);
    if (envelope.topic === "relay") {
      relay(socket, JSON.stringify({ topic: "relay", data: envelope.data }));
    } else if (envelope.topic === "echo") {
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
  /** The process's RSS, in bytes (after a forced GC unless `?gc=0`). */
  rss: number;
  /** The JS heap in use, in bytes (after a forced GC unless `?gc=0`). */
  heap: number;
  /** Sessions in {@linkcode ROOM}. */
  members: number;
}

/** Reads the process's RSS and JS heap in use, after a forced GC if `gc`. */
export type ReadMemory = (gc: boolean) => { rss: number; heapUsed: number };

/**
 * The answer to `GET /mem` (or `GET /mem?gc=0`).
 *
 * @param url The request's URL.
 * @param memory The runtime's memory reader.
 * @param members Sessions in {@linkcode ROOM}.
 * @returns The {@linkcode MemReport} as JSON.
 */
export function memResponse(url: URL, memory: ReadMemory, members: number): Response {
  const { rss, heapUsed } = memory(url.searchParams.get("gc") !== "0");
  return Response.json({ rss, heap: heapUsed, members } satisfies MemReport);
}

/**
 * Asks a server under test for its memory (`GET /mem`).
 *
 * @param port The server's port on 127.0.0.1.
 * @param gc Whether the server forces a GC first (else `?gc=0`).
 * @returns What it answered.
 * @throws {Error} If it did not answer 200.
 */
export async function fetchMem(port: number, gc = true): Promise<MemReport> {
  const response = await fetch(`http://127.0.0.1:${port}/mem${gc ? "" : "?gc=0"}`);
  if (!response.ok) throw new Error(`GET /mem answered ${response.status}`);
  return await response.json();
}
