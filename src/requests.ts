import { type Call, type ContractRules, describeIssues } from "./contract_rules.ts";
import type { HookRunner } from "./hooks.ts";
import { encodeReply, encodeReplyError } from "./protocol.ts";

/**
 * Thrown by a request handler to refuse a request on purpose: the client
 * gets a `$reply` with `error: { code, message }`. Any other throw is a
 * bug: the client gets code `"internal"` and nothing of the error, which
 * goes to `onError`.
 *
 * @example Usage
 * ```ts
 * import { defineContract, RequestError, Server, type } from "@switchboard/ws";
 *
 * const contract = defineContract({
 *   requests: { withdraw: { input: type<number>(), output: type<{ balance: number }>() } },
 * });
 * let balance = 100;
 * const server = new Server({
 *   contract,
 *   requests: {
 *     withdraw(session, amount) {
 *       if (amount > balance) throw new RequestError("insufficient-funds", "Not enough money");
 *       balance -= amount;
 *       return { balance };
 *     },
 *   },
 * });
 * ```
 */
export class RequestError extends Error {
  /** A short, stable code the client can act on, e.g. `"not-found"`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code A short, stable code for the client.
   * @param message A sentence for the client: it is sent as it is.
   * @param options The standard error options, with the `cause` (never sent).
   * @throws {TypeError} If `code` is not a non-empty string.
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    if (typeof code !== "string" || code.length === 0) {
      throw new TypeError("Cannot create RequestError: the code must be a non-empty string");
    }
    super(message, options);
    this.name = "RequestError";
    this.code = code;
  }
}

/** A request handler as the server holds it. */
type _Handler<S> = (session: S, input: unknown) => unknown;

/** Where a request's `$reply` goes: its connection. */
export interface ReplyTarget {
  /** Sends a control message's text to the client. */
  post(text: string): void;
}

/**
 * Runs the request handlers of one server: one call per request, its
 * `$reply` posted once it returns, resolves, throws or rejects. The
 * output is checked against its schema under `validateOutbound`.
 *
 * @typeParam S The session type the handlers take.
 */
export class RequestRunner<S> {
  readonly #handlers: Map<string, _Handler<S>>;
  readonly #rules: ContractRules;
  readonly #runner: HookRunner<S>;

  /**
   * @throws {TypeError} If a request of the contract has no handler, or a
   *   handler no request.
   */
  constructor(
    rules: ContractRules,
    handlers: Readonly<Record<string, unknown>> | undefined,
    runner: HookRunner<S>,
  ) {
    this.#rules = rules;
    this.#runner = runner;
    this.#handlers = new Map();
    for (const name of rules.requestNames) {
      const handler = handlers !== undefined && Object.hasOwn(handlers, name)
        ? handlers[name]
        : undefined;
      if (typeof handler !== "function") {
        throw new TypeError(`Invalid option "requests": no handler for request "${name}"`);
      }
      this.#handlers.set(name, handler as _Handler<S>);
    }
    for (const name of Object.keys(handlers ?? {})) {
      if (!this.#handlers.has(name)) {
        throw new TypeError(
          `Invalid option "requests": "${name}" is not a request of the contract`,
        );
      }
    }
  }

  /**
   * Calls the request's handler and posts its `$reply`.
   *
   * @returns `true` if the answer comes later; `settled` runs once it was posted.
   */
  run(session: S, call: Call, target: ReplyTarget, settled: () => void): boolean {
    let result: unknown;
    try {
      result = this.#handlers.get(call.topic)!(session, call.data);
    } catch (error) {
      this.#fail(session, call, target, error);
      return false;
    }
    if (!(result instanceof Promise) && !this.#rules.checksOutput) {
      this.#answer(session, call, target, result);
      return false;
    }
    this.#later(session, call, target, result, settled);
    return true;
  }

  /** Answers once the handler's result settles and is checked (its own method: see `HookRunner`). */
  #later(session: S, call: Call, target: ReplyTarget, result: unknown, settled: () => void): void {
    Promise.resolve(result)
      .then(
        (value) => this.#checked(session, call, target, value),
        (error) => this.#fail(session, call, target, error),
      )
      .catch((error) => this.#runner.report(error, session)) // a bug of ours: the slot still frees
      .finally(settled);
  }

  /** Checks the output (under `validateOutbound`), then answers. */
  async #checked(session: S, call: Call, target: ReplyTarget, value: unknown): Promise<void> {
    if (this.#rules.checksOutput) {
      const checked = await this.#rules.checkOutput(call.topic, value);
      if (checked.issues !== undefined) {
        const message = `Invalid output of request "${call.topic}": ${
          describeIssues(checked.issues)
        }`;
        this.#fail(session, call, target, new TypeError(message, { cause: checked.issues }));
        return;
      }
    }
    this.#answer(session, call, target, value);
  }

  #answer(session: S, call: Call, target: ReplyTarget, value: unknown): void {
    let text: string;
    try {
      text = encodeReply(call.id, value);
    } catch (error) {
      this.#fail(session, call, target, error);
      return;
    }
    call.done();
    target.post(text);
  }

  /** A `RequestError` answers with its code and message; anything else is a bug: `"internal"`. */
  #fail(session: S, call: Call, target: ReplyTarget, error: unknown): void {
    call.done();
    if (error instanceof RequestError) {
      target.post(encodeReplyError(call.id, error.code, error.message));
      return;
    }
    this.#runner.report(error, session);
    target.post(encodeReplyError(call.id, "internal", "Internal error"));
  }
}
