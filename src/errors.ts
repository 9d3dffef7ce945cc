import type { StandardSchemaV1 } from "./standard_schema.ts";

/**
 * Thrown when a session is used after the decision to close it, for example
 * by `session.rooms.join()` once the session is closing or closed.
 *
 * @example Usage
 * ```ts
 * import { SessionClosedError } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * const error = new SessionClosedError('Cannot join room "lobby": session is closed');
 * assert.equal(error.name, "SessionClosedError");
 * ```
 */
export class SessionClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   * @param options The standard error options, with the `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SessionClosedError";
  }
}

/**
 * The cause of a session closed by its send queue overflowing under the
 * `close` policy: the peer did not read fast enough.
 *
 * @example Usage
 * ```ts
 * import { QueueFullError } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * const error = new QueueFullError(1024, 1_048_576, 200);
 * assert.equal(error.name, "QueueFullError");
 * assert.match(error.message, /1024 messages/);
 * ```
 */
export class QueueFullError extends Error {
  /** Messages in the queue when it overflowed. */
  readonly messages: number;
  /** Bytes in the queue when it overflowed. */
  readonly bytes: number;
  /** Size in bytes of the message that did not fit. */
  readonly rejectedBytes: number;

  /**
   * Creates the error.
   *
   * @param messages Messages in the queue when it overflowed.
   * @param bytes Bytes in the queue when it overflowed.
   * @param rejectedBytes Size in bytes of the message that did not fit.
   */
  constructor(messages: number, bytes: number, rejectedBytes: number) {
    super(
      `Send queue is full: ${messages} messages, ${bytes} bytes queued, a ${rejectedBytes}-byte message does not fit`,
    );
    this.name = "QueueFullError";
    this.messages = messages;
    this.bytes = bytes;
    this.rejectedBytes = rejectedBytes;
  }
}

/**
 * An inbound text frame that is not a valid envelope
 * (`{"topic": string, "data": any}`), or, under a contract, a message the
 * contract refuses: an unknown topic, invalid data, a request without a
 * usable id. It never reaches a handler; it is counted and handed to
 * `onInvalidMessage`.
 *
 * @example Usage
 * ```ts
 * import { decodeEnvelope, EnvelopeError } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decodeEnvelope("{oops"), EnvelopeError);
 * ```
 */
export class EnvelopeError extends SyntaxError {
  /**
   * A short, stable code: `"json"`, `"shape"`, `"topic"`, `"forbidden-key"`
   * or `"rejected"` for a frame that is not an envelope; `"invalid"` for a
   * message the contract refuses.
   */
  readonly code: "json" | "shape" | "topic" | "forbidden-key" | "rejected" | "invalid";
  /** The message's topic, once it is known to be an envelope (code `"invalid"`). */
  readonly topic: string | undefined;
  /**
   * What the schema found wrong with the data (code `"invalid"`), paths
   * relative to `data`; empty for an unknown topic or a bad request id.
   */
  readonly issues: readonly StandardSchemaV1.Issue[];
  /** The request's id, when the refusal is answered with a `$reply`. */
  readonly id: number | undefined;

  /**
   * Creates the error.
   *
   * @param code A short, stable code for the kind of fault.
   * @param message What is wrong with the envelope.
   * @param options The standard error options, with the `cause`; the
   *   `topic`, `issues` and request `id` of a message a contract refuses.
   */
  constructor(
    code: EnvelopeError["code"],
    message: string,
    options?: ErrorOptions & {
      topic?: string;
      issues?: readonly StandardSchemaV1.Issue[];
      id?: number;
    },
  ) {
    super(message, options);
    this.name = "EnvelopeError";
    this.code = code;
    this.topic = options?.topic;
    this.issues = options?.issues ?? _NO_ISSUES;
    this.id = options?.id;
  }
}

const _NO_ISSUES: readonly StandardSchemaV1.Issue[] = Object.freeze([]);

/**
 * Thrown by a context factory to refuse an upgrade with an HTTP status.
 * The request gets that status and no WebSocket is opened.
 *
 * @example Usage
 * ```ts
 * import { HttpError, Server } from "@switchboard/ws";
 *
 * const server = new Server({
 *   context(request) {
 *     const token = new URL(request.url).searchParams.get("token");
 *     if (token !== "secret") throw new HttpError(403, "Unknown token");
 *     return { user: "ada" };
 *   },
 * });
 * ```
 */
export class HttpError extends Error {
  /** The HTTP status of the response. */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param status The HTTP status, from 400 to 599.
   * @param message The response body.
   * @param options The standard error options, with the `cause`.
   * @throws {RangeError} If `status` is not from 400 to 599.
   */
  constructor(status: number, message?: string, options?: ErrorOptions) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(
        `Cannot create HttpError: status must be from 400 to 599, got ${status}`,
      );
    }
    super(message ?? `HTTP ${status}`, options);
    this.name = "HttpError";
    this.status = status;
  }
}
