import { Call, invalidMessage, isRequestId, TooMany, type Verdict } from "./contract_rules.ts";
import type { Publisher, Recipient } from "./fanout.ts";
import type { RoomPosition } from "./history.ts";
import type { HookRunner } from "./hooks.ts";
import {
  encodeReply,
  encodeReplyError,
  type Envelope,
  JOIN_TOPIC,
  LEAVE_TOPIC,
} from "./protocol.ts";
import { RequestError } from "./requests.ts";
import type { LifeSettings } from "./settings.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";
import type { Tally } from "./stats.ts";
import { utf8Length } from "./utf8.ts";

/** The input of `$join` and `$leave`, checked. */
interface _RoomInput {
  readonly room: string;
  readonly since?: RoomPosition;
}

/** Whether a topic is a v1 control request: `$join` or `$leave`. */
export function isControlTopic(topic: string): boolean {
  return topic === JOIN_TOPIC || topic === LEAVE_TOPIC;
}

/**
 * Routes a `$join` or `$leave` of a v1 session as issue 11's requests are
 * routed: the id must be usable and not in flight, the input must be
 * `{ room, since? }` (a room name of 1 to 255 UTF-8 bytes; `since` as
 * `{ seq, epoch }`), and at most `max` requests may be in flight.
 */
export function routeControl(envelope: Envelope, inFlight: Set<number>, max: number): Verdict {
  const { topic, data, id } = envelope;
  if (!isRequestId(id)) {
    return invalidMessage(
      topic,
      `Request "${topic}" needs an "id": an integer from 0 to ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  if (inFlight.has(id)) return invalidMessage(topic, `Request id ${id} is already in flight`);
  const issues: StandardSchemaV1.Issue[] = [];
  const input = _input(data, topic === JOIN_TOPIC, issues);
  if (input === undefined) {
    return invalidMessage(topic, `Invalid input for "${topic}"`, issues, undefined, id);
  }
  if (inFlight.size >= max) return new TooMany(topic, id);
  inFlight.add(id);
  return new Call(topic, id, input, inFlight);
}

function _input(
  data: unknown,
  join: boolean,
  issues: StandardSchemaV1.Issue[],
): _RoomInput | undefined {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    issues.push({ message: "Expected an object { room, since? }" });
    return undefined;
  }
  const { room, since } = data as { room?: unknown; since?: unknown };
  if (typeof room !== "string") {
    issues.push({ path: ["room"], message: "Expected a string" });
  } else if (room.length === 0 || utf8Length(room) > 255) {
    issues.push({ path: ["room"], message: "Expected 1 to 255 UTF-8 bytes" });
  }
  if (!join || since === undefined) {
    return issues.length === 0 ? { room: room as string } : undefined;
  }
  const { seq, epoch } = (typeof since === "object" && since !== null ? since : {}) as {
    seq?: unknown;
    epoch?: unknown;
  };
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) {
    issues.push({ path: ["since", "seq"], message: "Expected an integer from 0" });
  }
  if (typeof epoch !== "string" || epoch.length === 0 || epoch.length > 64) {
    issues.push({ path: ["since", "epoch"], message: "Expected a string of 1 to 64 characters" });
  }
  if (issues.length > 0) return undefined;
  return { room: room as string, since: { seq: seq as number, epoch: epoch as string } };
}

/** What a `$join` needs of the connection that sent it. */
export interface JoinTarget extends Recipient {
  /** `false` once closing. */
  readonly open: boolean;
  /** The rooms it is in. */
  currentRooms(): ReadonlySet<string>;
  /** Joins a room, as `session.rooms.join`. */
  join(room: string): boolean;
  /** Leaves a room, as `session.rooms.leave`. */
  leave(room: string): boolean;
  /** Offers one frame. */
  offer(data: string, bytes: number): unknown;
  /** Sends a control message's text. */
  post(text: string): void;
}

/**
 * Answers the `$join` and `$leave` requests of v1 sessions. A join is
 * authorized by `authorizeJoin` (none: `forbidden`), then, in one
 * synchronous step, the missed messages are replayed, the session joins
 * the room, and the reply tells the room's position: no publish can come
 * between, so nothing is missed or sent twice.
 *
 * @typeParam S The session type the hook takes.
 */
export class ClientRooms<S> {
  readonly #authorize: ((session: S, room: string) => unknown) | undefined;
  readonly #publisher: Publisher<JoinTarget>;
  readonly #runner: HookRunner<S>;
  readonly #tally: Tally;
  readonly #maxRooms: number;

  constructor(
    authorize: ((session: S, room: string) => unknown) | undefined,
    // deno-lint-ignore no-explicit-any
    publisher: Publisher<any>,
    runner: HookRunner<S>,
    tally: Tally,
    life: LifeSettings,
  ) {
    this.#authorize = authorize;
    this.#publisher = publisher;
    this.#runner = runner;
    this.#tally = tally;
    this.#maxRooms = life.maxRoomsPerSession;
  }

  /**
   * Answers a `$join` or `$leave`.
   *
   * @returns `true` if the answer comes later; `settled` runs once it was posted.
   */
  run(session: S, call: Call, target: JoinTarget, settled: () => void): boolean {
    const { room } = call.data as _RoomInput;
    if (call.topic === LEAVE_TOPIC) {
      call.done();
      target.post(encodeReply(call.id, { room, left: target.leave(room) }));
      return false;
    }
    const authorize = this.#authorize;
    if (authorize === undefined) {
      this.#refuse(call, target, "forbidden", `Cannot join room "${room}": not allowed`);
      return false;
    }
    let verdict: unknown;
    try {
      verdict = authorize(session, room);
    } catch (error) {
      this.#failed(session, call, target, error);
      return false;
    }
    if (!(verdict instanceof Promise)) {
      this.#decided(call, target, verdict);
      return false;
    }
    this.#later(session, call, target, verdict, settled);
    return true;
  }

  /** Decides once `authorizeJoin`'s promise settles (its own method: see `HookRunner`). */
  #later(
    session: S,
    call: Call,
    target: JoinTarget,
    verdict: Promise<unknown>,
    settled: () => void,
  ): void {
    verdict.then(
      (ready) => this.#decided(call, target, ready),
      (error) => this.#failed(session, call, target, error),
    )
      .catch((error) => this.#runner.report(error, session)) // a bug of ours: the slot still frees
      .finally(settled);
  }

  /** Authorized or not: refuses, or replays, joins and replies in one step. */
  #decided(call: Call, target: JoinTarget, verdict: unknown): void {
    const { room, since } = call.data as _RoomInput;
    if (verdict !== true) {
      this.#refuse(call, target, "forbidden", `Cannot join room "${room}": not allowed`);
      return;
    }
    if (!target.open) {
      this.#refuse(call, target, "closed", `Cannot join room "${room}": session is closed`);
      return;
    }
    const rooms = target.currentRooms();
    if (!rooms.has(room) && rooms.size >= this.#maxRooms) {
      const why = `Cannot join room "${room}": the session is already in ${this.#maxRooms} rooms`;
      this.#refuse(call, target, "limit", why);
      return;
    }
    const joined = target.join(room);
    this.#tally.joins++;
    const history = this.#publisher.history;
    if (history === undefined) {
      const answer = since === undefined
        ? { room, joined }
        : { room, joined, recovered: false, reason: "epoch" };
      this.#answer(call, target, answer, since !== undefined);
      return;
    }
    let position = this.#publisher.keep(room);
    if (since === undefined) {
      this.#answer(call, target, { room, joined, ...position }, false);
      return;
    }
    const recovery = history.since(room, since);
    position = recovery?.position ?? position;
    if (recovery?.recovered !== true) {
      const reason = recovery?.reason ?? "epoch";
      this.#answer(call, target, { room, joined, ...position, recovered: false, reason }, true);
      return;
    }
    for (const entry of recovery.entries) target.offer(entry.data, entry.bytes);
    this.#tally.messagesReplayed += recovery.entries.length;
    this.#answer(call, target, { room, joined, ...position, recovered: true }, false);
  }

  #answer(call: Call, target: JoinTarget, answer: object, unrecovered: boolean): void {
    if (unrecovered) this.#tally.unrecovered++;
    call.done();
    target.post(encodeReply(call.id, answer));
  }

  #refuse(call: Call, target: JoinTarget, code: string, message: string): void {
    this.#tally.joinsRefused++;
    call.done();
    target.post(encodeReplyError(call.id, code, message));
  }

  /** A `RequestError` refuses with its code; anything else is a bug: `"internal"`, reported. */
  #failed(session: S, call: Call, target: JoinTarget, error: unknown): void {
    if (error instanceof RequestError) {
      this.#refuse(call, target, error.code, error.message);
      return;
    }
    this.#runner.report(error, session);
    this.#refuse(call, target, "internal", "Internal error");
  }
}
