import { EnvelopeError } from "./errors.ts";
import { forbiddenKey, mayHideForbiddenKey } from "./forbidden_keys.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";

/**
 * A message as it travels in a text frame: `{"topic": string, "data": any}`.
 *
 * @typeParam Topic The topic's type.
 * @typeParam Data The data's type.
 */
export interface Envelope<Topic extends string = string, Data = unknown> {
  /** What the message is about; the receiver dispatches on it. */
  readonly topic: Topic;
  /** The payload: any JSON value (`undefined` travels as an absent field). */
  readonly data: Data;
  /**
   * The request id: on a client's request and on the server's `$reply`
   * (see PROTOCOL.md); absent on other messages.
   */
  readonly id?: number;
  /** On a `$reply` to a request that failed: why. Absent otherwise. */
  readonly error?: { readonly code: string; readonly message: string };
  /** On a message published to a room the server keeps a history of: the room. */
  readonly room?: string;
  /** With `room`: the message's sequence number in the room (PROTOCOL.md, v1). */
  readonly seq?: number;
}

/**
 * Encodes a topic and data as the JSON text of an envelope.
 *
 * @param topic The topic.
 * @param data Any value `JSON.stringify` accepts; `undefined` is left out.
 * @returns The JSON text of `{"topic": topic, "data": data}`.
 * @throws {TypeError} If `data` cannot be serialized (a `BigInt`, a cycle).
 *
 * @example Usage
 * ```ts
 * import { encodeEnvelope } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeEnvelope("chat", { text: "hi" }), '{"topic":"chat","data":{"text":"hi"}}');
 * ```
 */
export function encodeEnvelope(topic: string, data: unknown): string {
  _assertTopic(topic);
  // One call makes one flat string: a concatenation would make a rope that
  // every runtime flattens again (a copy) before it can count or send it.
  return JSON.stringify({ topic, data });
}

/** Throws the `TypeError` of an encoder given a topic that is not a string. */
function _assertTopic(topic: string): void {
  if (typeof topic !== "string") {
    throw new TypeError(`Cannot encode envelope: topic must be a string, got ${typeof topic}`);
  }
}

/**
 * Decodes the JSON text of an envelope, refusing anything else.
 *
 * Refused: text that is not JSON; a value that is not an object; a `topic`
 * that is missing or not a string; any key named `__proto__` at any depth, and
 * any `constructor` key holding an object with a `prototype` key (the
 * prototype-pollution shapes). The result is a fresh object holding only
 * `topic` and `data`, read as own properties.
 *
 * @param text The frame's text.
 * @returns The envelope.
 * @throws {EnvelopeError} If the text is not a valid envelope; `code` says why.
 *
 * @example Usage
 * ```ts
 * import { decodeEnvelope, EnvelopeError } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeEnvelope('{"topic":"chat","data":1}'), { topic: "chat", data: 1 });
 * assert.throws(() => decodeEnvelope('{"topic":"x","data":{"__proto__":{}}}'), EnvelopeError);
 * ```
 */
export function decodeEnvelope(text: string): Envelope {
  return _envelope(_parse(text), mayHideForbiddenKey(text), _PLAIN);
}

/** As {@linkcode decodeEnvelope}, and keeps an `id` (of a request) if there is one. */
export function decodeRequest(text: string): Envelope {
  return _envelope(_parse(text), mayHideForbiddenKey(text), _REQUEST);
}

// What _envelope keeps besides topic and data: nothing; an id (and a
// $reply's error); those and a room message's room and seq.
const _PLAIN = 0;
const _REQUEST = 1;
const _FRAME = 2;

function _parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new EnvelopeError("json", "Invalid envelope: not JSON", { cause });
  }
}

/**
 * Checks a parsed value; `walk` if its text may hide a forbidden key. Past
 * `_PLAIN`, an own `id` is kept, and on a `$reply` an own `error` too; with
 * `_FRAME`, a room message's `room` and `seq` too.
 */
function _envelope(value: unknown, walk: boolean, keep: number): Envelope {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EnvelopeError("shape", "Invalid envelope: not a JSON object");
  }
  if (!Object.hasOwn(value, "topic") || typeof (value as Envelope).topic !== "string") {
    throw new EnvelopeError("topic", 'Invalid envelope: "topic" must be a string');
  }
  if (walk) _assertNoForbiddenKeys(value);
  const topic = (value as Envelope).topic;
  const data = Object.hasOwn(value, "data") ? (value as Envelope).data : undefined;
  if (keep === _FRAME && Object.hasOwn(value, "seq")) {
    const { room, seq } = value as Envelope;
    if (typeof room === "string" && Number.isSafeInteger(seq)) return { topic, data, room, seq };
  }
  if (keep === _PLAIN || !Object.hasOwn(value, "id")) return { topic, data };
  const id = (value as Envelope).id;
  if (topic !== REPLY_TOPIC || !Object.hasOwn(value, "error")) return { topic, data, id };
  return { topic, data, id, error: (value as Envelope).error };
}

/**
 * The subprotocol a client offers to receive batch frames: the text
 * messages of one server tick in one frame, as a JSON array of envelopes.
 * Decode either kind of frame with {@linkcode decodeFrame}.
 *
 * @example Usage
 * ```ts ignore
 * import { BATCH_PROTOCOL, decodeFrame } from "@switchboard/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8000/", [BATCH_PROTOCOL]);
 * ws.onmessage = (e) => {
 *   for (const { topic, data } of decodeFrame(e.data)) console.log(topic, data);
 * };
 * ```
 */
export const BATCH_PROTOCOL = "switchboard.batch";

/**
 * The topic of the envelopes the server sends about a client's own
 * message: a malformed envelope or one the contract refuses (under
 * `invalidMessage: "reply"`), a message over the rate limit, a full handler
 * backlog. Their data is `{ code, message }`, with `topic` and `issues` for
 * code `"invalid"` (PROTOCOL.md).
 *
 * @example Usage
 * ```ts
 * import { decodeFrame, ERROR_TOPIC } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * const [envelope] = decodeFrame('{"topic":"$error","data":{"code":"json","message":"not JSON"}}');
 * assert.equal(envelope.topic, ERROR_TOPIC);
 * ```
 */
export const ERROR_TOPIC = "$error";

/** The topic of the server's answer to a request (see PROTOCOL.md). */
export const REPLY_TOPIC = "$reply";

/** The subprotocol of protocol v1, one envelope a frame (PROTOCOL.md). */
export const V1_PROTOCOL = "switchboard.v1";
/** The subprotocol of protocol v1 with batch frames. */
export const V1_BATCH_PROTOCOL = "switchboard.v1.batch";
/** Whether a chosen subprotocol is protocol v1's. */
export function isV1(protocol: string | undefined): boolean {
  return protocol === V1_PROTOCOL || protocol === V1_BATCH_PROTOCOL;
}

/** Whether a chosen subprotocol has batch frames. */
export function isBatch(protocol: string | undefined): boolean {
  return protocol === BATCH_PROTOCOL || protocol === V1_BATCH_PROTOCOL;
}

/** The first frame of a v1 session. */
export const HELLO_TOPIC = "$hello";
/** What an idle v1 session is sent, as it is. */
export const HEARTBEAT_TEXT = '{"topic":"$heartbeat"}';
/** A v1 client's request to join a room. */
export const JOIN_TOPIC = "$join";
/** A v1 client's request to leave a room. */
export const LEAVE_TOPIC = "$leave";

/**
 * Decodes a text frame from the server: one envelope, or a batch frame (a
 * JSON array of envelopes, sent to clients of {@linkcode BATCH_PROTOCOL}).
 * Each envelope is checked as {@linkcode decodeEnvelope} checks it; a
 * `$reply` keeps its `id` and `error`, a room message its `room` and `seq`.
 *
 * @param text The frame's text.
 * @returns The envelopes, in order.
 * @throws {EnvelopeError} If the text is not an envelope or an array of them.
 *
 * @example Usage
 * ```ts
 * import { decodeFrame } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeFrame('[{"topic":"a","data":1},{"topic":"b"}]'), [
 *   { topic: "a", data: 1 },
 *   { topic: "b", data: undefined },
 * ]);
 * assert.deepEqual(decodeFrame('{"topic":"a","data":1}'), [{ topic: "a", data: 1 }]);
 * ```
 */
export function decodeFrame(text: string): Envelope[] {
  const value = _parse(text);
  const walk = mayHideForbiddenKey(text);
  if (!Array.isArray(value)) return [_envelope(value, walk, _FRAME)];
  return value.map((item) => _envelope(item, walk, _FRAME));
}

/** How much of a refusal's issues travels to the client (PROTOCOL.md). */
const _MAX_ISSUES = 10;
const _MAX_ISSUE_MESSAGE = 160;
const _MAX_PATH = 8;
const _MAX_KEY = 32;
const _MAX_TOPIC = 128;

/**
 * The answer to a message a contract refused (code `"invalid"`): a
 * `$reply` with an `error` if it is a request with a usable id, else a
 * `$error`. Its issues are bounded: the first 10, each message, path and
 * key cut short.
 */
export function encodeInvalid(error: EnvelopeError): string {
  const issues = error.issues.slice(0, _MAX_ISSUES).map(_wireIssue);
  const { code, message, id } = error;
  if (id !== undefined) {
    return JSON.stringify({ topic: REPLY_TOPIC, id, error: { code, message, issues } });
  }
  const topic = _clip(error.topic ?? "", _MAX_TOPIC);
  return JSON.stringify({ topic: ERROR_TOPIC, data: { code, message, topic, issues } });
}

/**
 * A successful `$reply`.
 *
 * @throws {TypeError} If `data` cannot be serialized.
 */
export function encodeReply(id: number, data: unknown): string {
  const json = JSON.stringify(data);
  return json === undefined
    ? `{"topic":"${REPLY_TOPIC}","id":${id}}`
    : `{"topic":"${REPLY_TOPIC}","id":${id},"data":${json}}`;
}

/** A `$reply` to a request that failed. */
export function encodeReplyError(id: number, code: string, message: string): string {
  return JSON.stringify({ topic: REPLY_TOPIC, id, error: { code, message } });
}

function _wireIssue(issue: StandardSchemaV1.Issue): { path: (string | number)[]; message: string } {
  const path = (Array.isArray(issue.path) ? issue.path : []).slice(0, _MAX_PATH).map((step) => {
    const key = typeof step === "object" && step !== null ? step.key : step;
    return typeof key === "number" ? key : _clip(String(key), _MAX_KEY);
  });
  return { path, message: _clip(String(issue.message), _MAX_ISSUE_MESSAGE) };
}

/** `text` cut to at most `max` UTF-16 units, ending in "…" if cut, never inside a surrogate pair. */
function _clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end) + "…";
}

/**
 * A room message encoded once, up to its sequence number:
 * `{"topic","data","room","seq":` (the history appends `seq` and `}`).
 *
 * @throws {TypeError} If `data` cannot be serialized.
 */
export function encodeRoomHead(topic: string, data: unknown, room: string): string {
  _assertTopic(topic);
  return JSON.stringify({ topic, data, room, seq: 0 }).slice(0, -2); // less `0}`
}

/** The `$hello` of a v1 session. */
export function encodeHello(
  session: string,
  protocol: { readonly heartbeat: number; readonly limits: object },
): string {
  const { heartbeat, limits } = protocol;
  return encodeEnvelope(HELLO_TOPIC, { version: 1, session, heartbeat, limits });
}

function _assertNoForbiddenKeys(root: object): void {
  const key = forbiddenKey(root);
  if (key !== undefined) {
    throw new EnvelopeError("forbidden-key", `Invalid envelope: key "${key}" is not allowed`);
  }
}
