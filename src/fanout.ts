import { encodeEnvelope } from "./protocol.ts";
import type { Frame } from "./send_queue.ts";
import type { SendResult, Session } from "./session.ts";
import { utf8Length } from "./utf8.ts";

/** Options of {@linkcode Server.publish} and the other ways to send to many. */
export interface PublishOptions {
  /** A session, or several, that must not receive it (typically the sender). */
  // deno-lint-ignore no-explicit-any
  except?: Session<any, any, any> | Iterable<Session<any, any, any>>;
}

/** How a publish went: each recipient counts once under what happened to its copy. */
export interface PublishResult {
  /** Sessions offered the message. */
  readonly recipients: number;
  /** Copies handed to the socket. */
  readonly sent: number;
  /** Copies waiting in send queues. */
  readonly queued: number;
  /** Copies dropped by overflow policies. */
  readonly dropped: number;
  /** Recipients already closing. */
  readonly closed: number;
}

/** Anything a frame can be delivered to: a connection's outbound side. */
export interface Recipient {
  deliver(frame: Frame): SendResult;
}

/** The result of a publish that reached nobody. */
export const NOBODY: PublishResult = Object.freeze({
  recipients: 0,
  sent: 0,
  queued: 0,
  dropped: 0,
  closed: 0,
});

/**
 * Offers one shared frame to every member but those in `skip`, and counts
 * what happened to each copy. A member that is `undefined` (a session not
 * or no longer on this server) counts as `closed`.
 */
export function deliver<R extends Recipient>(
  members: Iterable<R | undefined>,
  frame: Frame,
  skip: ReadonlySet<R | undefined> | undefined,
): PublishResult {
  let recipients = 0, sent = 0, queued = 0, dropped = 0, closed = 0;
  for (const member of members) {
    if (skip?.has(member)) continue;
    recipients++;
    const result = member === undefined ? "closed" : member.deliver(frame);
    if (result === "sent") sent++;
    else if (result === "queued") queued++;
    else if (result === "dropped") dropped++;
    else closed++;
  }
  return { recipients, sent, queued, dropped, closed };
}

/** The result of a publish that reached nobody, once its data is `check`ed if given. */
export function nobody(
  topic = "",
  data?: unknown,
  check?: (topic: string, data: unknown) => void,
): PublishResult {
  check?.(topic, data);
  return NOBODY;
}

/** Encodes a message once, as the frame every recipient shares; `check` it first if given. */
export function textFrame(
  topic: string,
  data: unknown,
  check?: (topic: string, data: unknown) => void,
): Frame {
  check?.(topic, data);
  const text = encodeEnvelope(topic, data);
  return { data: text, bytes: utf8Length(text) };
}
