// The client's side of the wire format (PROTOCOL.md): what it offers, the
// control topics, and a frame decoder with decodeFrame's rules that keeps
// the fields a client needs (`id`, `error`, `room`, `seq`). The server's
// src/protocol.ts is not imported: it brings the server's error classes,
// and this entry must load no server module; the forbidden-key rules are
// shared (src/forbidden_keys.ts imports nothing).

import { forbiddenKey, mayHideForbiddenKey } from "../src/forbidden_keys.ts";

/** The subprotocol of a protocol client: control messages, one envelope per frame. */
export const V1_PROTOCOL = "switchboard.v1";
/** The same, with batch frames (a JSON array of envelopes) from the server. */
export const V1_BATCH_PROTOCOL = "switchboard.v1.batch";
/** Batch frames without control messages (issue 11), for `protocol: false`. */
export const BATCH_PROTOCOL = "switchboard.batch";

export const HELLO = "$hello";
export const HEARTBEAT = "$heartbeat";
export const REPLY = "$reply";
export const ERROR = "$error";
export const JOIN = "$join";
export const LEAVE = "$leave";

/** An envelope from the server, as the client reads it. */
export interface Incoming {
  readonly topic: string;
  readonly data: unknown;
  /** On a `$reply`. */
  readonly id?: number;
  /** On a `$reply` to a request that failed. */
  readonly error?: { readonly code: string; readonly message: string; readonly issues?: unknown };
  /** On a room message. */
  readonly room?: string;
  /** On a room message of a server with history. */
  readonly seq?: number;
}

/** Why a frame could not be read. */
export class FrameError extends Error {
  constructor(readonly code: "json" | "shape" | "topic" | "forbidden-key", message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Decodes a text frame: one envelope or a JSON array of them. Refused as
 * `decodeFrame` refuses: not JSON, not an object, no string `topic`, a
 * `__proto__` key or a `constructor.prototype` at any depth.
 *
 * @throws {FrameError} If the frame is not valid.
 */
export function decodeIncoming(text: string): Incoming[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FrameError("json", "Invalid frame: not JSON");
  }
  const walk = mayHideForbiddenKey(text);
  if (!Array.isArray(value)) return [_incoming(value, walk)];
  return value.map((item) => _incoming(item, walk));
}

function _incoming(value: unknown, walk: boolean): Incoming {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FrameError("shape", "Invalid frame: an envelope is not a JSON object");
  }
  const record = value as Record<string, unknown>;
  if (!Object.hasOwn(record, "topic") || typeof record.topic !== "string") {
    throw new FrameError("topic", 'Invalid frame: "topic" must be a string');
  }
  if (walk) _assertNoForbiddenKeys(record);
  const out: {
    topic: string;
    data: unknown;
    id?: number;
    error?: Incoming["error"];
    room?: string;
    seq?: number;
  } = { topic: record.topic, data: Object.hasOwn(record, "data") ? record.data : undefined };
  if (Object.hasOwn(record, "id") && typeof record.id === "number") out.id = record.id;
  if (Object.hasOwn(record, "error") && _isError(record.error)) out.error = record.error;
  if (Object.hasOwn(record, "room") && typeof record.room === "string") out.room = record.room;
  if (Object.hasOwn(record, "seq") && Number.isSafeInteger(record.seq)) {
    out.seq = record.seq as number;
  }
  return out;
}

function _isError(value: unknown): value is NonNullable<Incoming["error"]> {
  if (typeof value !== "object" || value === null) return false;
  const { code, message } = value as Record<string, unknown>;
  return typeof code === "string" && typeof message === "string";
}

/**
 * The JSON text of a message or a request.
 *
 * @throws {TypeError} If `data` cannot be serialized (a `BigInt`, a cycle).
 */
export function encodeOutgoing(topic: string, data: unknown, id?: number): string {
  return JSON.stringify(id === undefined ? { topic, data } : { topic, data, id });
}

/** The bytes of a string's UTF-8 encoding, counted without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a pair: 2 units, 4 bytes
        i++;
      } else bytes += 2; // a lone high surrogate: U+FFFD, 3 bytes
    } else bytes += 2;
  }
  return bytes;
}

function _assertNoForbiddenKeys(root: object): void {
  const key = forbiddenKey(root);
  if (key !== undefined) {
    throw new FrameError("forbidden-key", `Invalid frame: key "${key}" is not allowed`);
  }
}
