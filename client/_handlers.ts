import type { Checks } from "./_checks.ts";
import type { Emitter } from "./_emitter.ts";
import type { JoinReply } from "./_rooms.ts";
import type { Incoming } from "./_wire.ts";
import type { RejectedEvent } from "./events.ts";
import type { LeaveResult } from "./options.ts";

/** A handler of a server topic, as the client holds it. */
export type Handler = (data: unknown, message: Incoming) => void;

/**
 * The handlers of server topics: each message goes to its topic's
 * handlers, in order of `on`, after the contract's check under
 * `validateInbound`. A handler that throws is reported as an `error`
 * event; the others still run.
 */
export class Handlers {
  readonly #checks: Checks;
  readonly #events: Emitter;
  readonly #handlers = new Map<string, Set<Handler>>();

  constructor(checks: Checks, events: Emitter) {
    this.#checks = checks;
    this.#events = events;
  }

  /** Adds a handler; returns its remover. */
  on(topic: string, handler: Handler): () => void {
    let set = this.#handlers.get(topic);
    if (set === undefined) this.#handlers.set(topic, set = new Set());
    const entry: Handler = (data, message) => handler(data, message);
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#handlers.get(topic) === set) this.#handlers.delete(topic);
    };
  }

  /** Hands a message to its handlers: what became of it. */
  deliver(message: Incoming): "delivered" | "unhandled" | "invalid" {
    const handlers = this.#handlers.get(message.topic);
    if (handlers === undefined) return "unhandled";
    const error = this.#checks.serverMessage(message.topic, message.data);
    if (error !== undefined) {
      this.#events.emit("invalid", { reason: "data", topic: message.topic, error });
      return "invalid";
    }
    for (const handler of [...handlers]) {
      try {
        handler(message.data, message);
      } catch (error) {
        this.#events.emit("error", { error, topic: message.topic });
      }
    }
    return "delivered";
  }
}

function _record(value: unknown): Record<string, unknown> {
  return (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
}

/** A `$join` answer's data, read defensively. */
export function readJoinReply(room: string, value: unknown): JoinReply {
  const v = _record(value);
  return {
    room,
    joined: v.joined === true,
    ...(Number.isSafeInteger(v.seq) ? { seq: v.seq as number } : {}),
    ...(typeof v.epoch === "string" ? { epoch: v.epoch } : {}),
    ...(typeof v.recovered === "boolean" ? { recovered: v.recovered } : {}),
    ...(typeof v.reason === "string" ? { reason: v.reason } : {}),
  };
}

/** A `$leave` answer's data, read defensively. */
export function readLeaveResult(room: string, value: unknown): LeaveResult {
  return { room, left: _record(value).left === true };
}

/** A `$error`'s data, read defensively. */
export function readRejected(data: unknown): RejectedEvent {
  const d = _record(data);
  return {
    code: typeof d.code === "string" ? d.code : "unknown",
    message: typeof d.message === "string" ? d.message : "",
    ...(typeof d.topic === "string" ? { topic: d.topic } : {}),
    ...(d.issues !== undefined ? { issues: d.issues } : {}),
  };
}

/** A limit from `$hello`: a positive number, else none. */
export function readLimit(value: number | undefined): number {
  return value !== undefined && value > 0 ? value : Infinity;
}
