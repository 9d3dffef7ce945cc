import type { EnvelopeError } from "./errors.ts";
import type { ServerOptions } from "./options.ts";
import type { DropInfo, Session } from "./session.ts";
import type { Message } from "./topics.ts";

/** The user's hooks a connection calls, each present (a no-op if not given). */
export interface ConnectionHooks<Ctx, In extends object, Out extends object> {
  onMessage(session: Session<Ctx, In, Out>, message: Message<In>): unknown;
  onBinary(session: Session<Ctx, In, Out>, data: Uint8Array<ArrayBuffer>): unknown;
  onDrop(session: Session<Ctx, In, Out>, drop: DropInfo): unknown;
  onInvalidMessage(session: Session<Ctx, In, Out>, error: EnvelopeError): unknown;
  onRejectedMessage(
    session: Session<Ctx, In, Out>,
    reason: "rate-limited" | "busy" | "too-many-requests",
  ): unknown;
}

/** The hooks of a server's options that its connections call, a no-op for each not given. */
export function connectionHooks<Ctx, In extends object, Out extends object>(
  // deno-lint-ignore no-explicit-any
  options: ServerOptions<Ctx, In, Out, any>,
): ConnectionHooks<Ctx, In, Out> {
  return {
    onMessage: options.onMessage ?? _nothing,
    onBinary: options.onBinary ?? _nothing,
    onDrop: options.onDrop ?? _nothing,
    onInvalidMessage: options.onInvalidMessage ?? _nothing,
    onRejectedMessage: options.onRejectedMessage ?? _nothing,
  };
}

/**
 * Reports a hook's failure: the server's `onError` option, or
 * `console.error` without one. `request` is set for failures before the
 * upgrade (the context factory), `session` after it.
 */
export type ErrorReporter<S> = (error: unknown, session?: S, request?: Request) => unknown;

/**
 * Runs every user hook of a server, and is the one place that decides what
 * a throwing or rejecting hook does: it is reported to `onError` and never
 * reaches the caller, whether the hook is sync or async.
 *
 * @typeParam S The session type the hooks take.
 */
export class HookRunner<S> {
  readonly #onError: ErrorReporter<S> | undefined;

  constructor(onError: ErrorReporter<S> | undefined) {
    this.#onError = onError;
  }

  /**
   * Calls `hook(first, arg)`, where `first` is the session (or the request,
   * before the upgrade). A throw or a rejection is reported, never
   * passed on. If the hook returns a promise, `settled` runs once it
   * settles either way (a handler slot waits on it) and `true` is returned.
   */
  call<F extends S | Request, A>(
    hook: (first: F, arg: A) => unknown,
    first: F,
    arg: A,
    settled: () => void = _nothing,
  ): boolean {
    let result: unknown;
    try {
      result = hook(first, arg);
    } catch (error) {
      this.#failed(error, first);
      return false;
    }
    if (!(result instanceof Promise)) return false;
    this.#awaited(result, first, settled);
    return true;
  }

  // Promise callbacks live in methods of their own, here and on every path
  // a message or a connect takes: a function that holds a closure makes its
  // scope on every call, even when the closure is not made (Bun's JSC).
  #awaited(result: Promise<unknown>, first: S | Request, settled: () => void): void {
    result.then(settled, (error) => {
      this.#failed(error, first);
      settled();
    });
  }

  #failed(error: unknown, first: S | Request): void {
    if (first instanceof Request) this.report(error, undefined, first);
    else this.report(error, first);
  }

  /** Reports an error to `onError`; an `onError` that throws goes to `console.error`. */
  report(error: unknown, session?: S, request?: Request): void {
    const onError = this.#onError;
    if (onError === undefined) {
      console.error("switchboard:", error);
      return;
    }
    try {
      const result = onError(error, session, request);
      if (result instanceof Promise) {
        result.catch((again) => _lastResort(again, error));
      }
    } catch (again) {
      _lastResort(again, error);
    }
  }
}

function _nothing(): void {}

function _lastResort(again: unknown, error: unknown): void {
  console.error("switchboard: onError failed", again, "while reporting", error);
}
