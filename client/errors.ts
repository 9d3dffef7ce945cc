/**
 * A request that got no answer within its timeout, waiting in the offline
 * queue included. It never settles otherwise: a late answer is ignored.
 *
 * @example Usage
 * ```ts
 * import { RequestTimeoutError } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * const error = new RequestTimeoutError("getUser", 10_000, true);
 * assert.equal(error.name, "RequestTimeoutError");
 * assert.match(error.message, /"getUser"/);
 * ```
 */
export class RequestTimeoutError extends Error {
  /** The request's name. */
  readonly request: string;
  /** The timeout, in ms. */
  readonly timeout: number;
  /** `true` if it was sent; `false` if it was still waiting in the offline queue. */
  readonly sent: boolean;

  /**
   * Creates the error.
   *
   * @param request The request's name.
   * @param timeout The timeout in ms.
   * @param sent Whether it was sent.
   */
  constructor(request: string, timeout: number, sent: boolean) {
    super(
      `Request "${request}" timed out after ${timeout} ms ${
        sent ? "waiting for its reply" : "waiting to be sent"
      }`,
    );
    this.name = "RequestTimeoutError";
    this.request = request;
    this.timeout = timeout;
    this.sent = sent;
  }
}

/**
 * The server answered a request with an error: a `RequestError` its handler
 * threw (with its code), or `"invalid"` (the input failed the server's
 * schema), `"internal"` (a bug in the handler), `"forbidden"` (a join
 * refused), ...
 *
 * @example Usage
 * ```ts
 * import { ReplyError } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * const error = new ReplyError("withdraw", "insufficient-funds", "Not enough money");
 * assert.equal(error.code, "insufficient-funds");
 * ```
 */
export class ReplyError extends Error {
  /** The request's name. */
  readonly request: string;
  /** The server's code. */
  readonly code: string;
  /** The contract's issues, for code `"invalid"`. */
  readonly issues?: unknown;

  /**
   * Creates the error.
   *
   * @param request The request's name.
   * @param code The server's code.
   * @param message The server's message.
   * @param issues The issues, if any.
   */
  constructor(request: string, code: string, message: string, issues?: unknown) {
    super(message);
    this.name = "ReplyError";
    this.request = request;
    this.code = code;
    if (issues !== undefined) this.issues = issues;
  }
}

/**
 * A request was in flight when its connection dropped: its answer can no
 * longer come (the server's session, and its reply, went with the
 * connection). Requests still waiting in the offline queue are not
 * affected: they are sent on the next connection.
 *
 * @example Usage
 * ```ts
 * import { ConnectionLostError } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * const error = new ConnectionLostError("save", 1006, "");
 * assert.equal(error.name, "ConnectionLostError");
 * ```
 */
export class ConnectionLostError extends Error {
  /** The request's name. */
  readonly request: string;
  /** The close code of the connection lost. */
  readonly code: number;

  /**
   * Creates the error.
   *
   * @param request The request's name.
   * @param code The close code.
   * @param reason The close reason.
   */
  constructor(request: string, code: number, reason: string) {
    super(
      `Request "${request}" was in flight when the connection closed (${code}${
        reason ? ` "${reason}"` : ""
      }): it may or may not have run`,
    );
    this.name = "ConnectionLostError";
    this.request = request;
    this.code = code;
  }
}

/**
 * A request or join made on, or still waiting at, a closed client.
 *
 * @example Usage
 * ```ts
 * import { ClientClosedError } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ClientClosedError('Cannot join "lobby"').name, "ClientClosedError");
 * ```
 */
export class ClientClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   */
  constructor(message: string) {
    super(`${message}: the client is closed`);
    this.name = "ClientClosedError";
  }
}

/**
 * A request dropped from the offline queue before it was sent: the queue
 * was full, or it was over the server's `maxMessageBytes`. Counted in
 * `stats.dropped` and reported as a `drop` event like any message.
 *
 * @example Usage
 * ```ts
 * import { RequestDroppedError } from "@switchboard/ws/client";
 * import assert from "node:assert/strict";
 *
 * const error = new RequestDroppedError("save", "queue-full");
 * assert.equal(error.reason, "queue-full");
 * ```
 */
export class RequestDroppedError extends Error {
  /** The request's name. */
  readonly request: string;
  /** Why. */
  readonly reason: "queue-full" | "too-large";

  /**
   * Creates the error.
   *
   * @param request The request's name.
   * @param reason Why it was dropped.
   */
  constructor(request: string, reason: "queue-full" | "too-large") {
    super(
      `Request "${request}" was dropped: ${
        reason === "queue-full" ? "the offline queue is full" : "it is over maxMessageBytes"
      }`,
    );
    this.name = "RequestDroppedError";
    this.request = request;
    this.reason = reason;
  }
}
