import { CloseCode } from "./close_codes.ts";
import type { CloseCause } from "./session.ts";

/**
 * Why the runtime closed a session's socket, from what it reported: the
 * adapter's own `kind` when it knows (its size limit, its idle timeout),
 * else the error it reported before the close, else the code (1006: the
 * connection dropped), else the client closed.
 */
export function runtimeCause(
  code: number,
  reason: string,
  kind: CloseCause["kind"] | undefined,
  error: unknown,
): Omit<CloseCause, "rooms"> {
  if (kind === "too-large") return { kind, code: CloseCode.MESSAGE_TOO_BIG, reason };
  if (kind !== undefined) return { kind, code, reason, error };
  if (error !== undefined && _isTimeout(error)) return { kind: "timeout", code, reason, error };
  if (error !== undefined || code === CloseCode.ABNORMAL) {
    return { kind: "error", code, reason, error };
  }
  return { kind: "client", code, reason };
}

function _isTimeout(error: unknown): boolean {
  const message = error instanceof Error
    ? error.message
    : (error as { message?: unknown })?.message;
  return typeof message === "string" && /ping|timeout|timed out/i.test(message);
}
