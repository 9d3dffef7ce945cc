import { EnvelopeError } from "./errors.ts";

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
  if (typeof topic !== "string") {
    throw new TypeError(`Cannot encode envelope: topic must be a string, got ${typeof topic}`);
  }
  const json = JSON.stringify(data);
  const quoted = _isPlain(topic) ? `"${topic}"` : JSON.stringify(topic);
  return json === undefined ? `{"topic":${quoted}}` : `{"topic":${quoted},"data":${json}}`;
}

/** `true` if `JSON.stringify(text)` is `text` in quotes: no quote, backslash, control or surrogate. */
function _isPlain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
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
  return _envelope(_parse(text), _MAY_HIDE_FORBIDDEN_KEY.test(text));
}

function _parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new EnvelopeError("json", "Invalid envelope: not JSON", { cause });
  }
}

/** Checks a parsed value; `walk` if its text may hide a forbidden key. */
function _envelope(value: unknown, walk: boolean): Envelope {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EnvelopeError("shape", "Invalid envelope: not a JSON object");
  }
  if (!Object.hasOwn(value, "topic") || typeof (value as Envelope).topic !== "string") {
    throw new EnvelopeError("topic", 'Invalid envelope: "topic" must be a string');
  }
  if (walk) _assertNoForbiddenKeys(value);
  return {
    topic: (value as Envelope).topic,
    data: Object.hasOwn(value, "data") ? (value as Envelope).data : undefined,
  };
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
 * message: a malformed envelope (under `invalidMessage: "reply"`), a
 * message over the rate limit, a full handler backlog. Their data is
 * `{ code, message }`.
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

/**
 * Decodes a text frame from the server: one envelope, or a batch frame (a
 * JSON array of envelopes, sent to clients of {@linkcode BATCH_PROTOCOL}).
 * Each envelope is checked as {@linkcode decodeEnvelope} checks it.
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
  const walk = _MAY_HIDE_FORBIDDEN_KEY.test(text);
  if (!Array.isArray(value)) return [_envelope(value, walk)];
  return value.map((item) => _envelope(item, walk));
}

// Only text with one of these can hold a forbidden key once parsed
// (a key can be spelled with \u escapes), so the walk is skipped otherwise.
const _MAY_HIDE_FORBIDDEN_KEY = /__proto__|constructor|\\u/;

function _assertNoForbiddenKeys(root: object): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== "object" || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    if (Object.hasOwn(node, "__proto__")) {
      throw new EnvelopeError("forbidden-key", 'Invalid envelope: key "__proto__" is not allowed');
    }
    const ctor = Object.hasOwn(node, "constructor")
      ? (node as { constructor: unknown }).constructor
      : undefined;
    if (typeof ctor === "object" && ctor !== null && Object.hasOwn(ctor, "prototype")) {
      throw new EnvelopeError(
        "forbidden-key",
        'Invalid envelope: key "constructor.prototype" is not allowed',
      );
    }
    for (const key in node) stack.push((node as Record<string, unknown>)[key]);
  }
}
