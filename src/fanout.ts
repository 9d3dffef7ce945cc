import type { History, RoomPosition } from "./history.ts";
import { encodeEnvelope, encodeRoomHead } from "./protocol.ts";
import { type Room, RoomIndex } from "./rooms.ts";
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

/**
 * Publishes to rooms: the room index, and the history of the rooms it
 * keeps. A room is kept once a client joined it with `$join` (or it was
 * kept already: a history shared with an earlier server); its messages
 * then get a sequence number and are encoded once with it, as
 * `{"topic","data","room","seq"}`. A publish to a room that is not kept
 * costs one field read more than a plain fan-out.
 */
export class Publisher<R extends Recipient> {
  /** Every room to its members. */
  readonly rooms: RoomIndex<R>;
  /** The history, unless the server has none. */
  readonly history: History | undefined;
  readonly #check: ((topic: string, data: unknown) => void) | undefined;

  constructor(history: History | undefined, check?: (topic: string, data: unknown) => void) {
    this.history = history;
    this.#check = check;
    this.rooms = new RoomIndex(
      history && {
        // A room the history keeps (its members left a moment ago, or an
        // earlier server's did) is held again as soon as it has a member.
        created: (name, room) => {
          if (history.tracks(name)) this.#hold(name, room);
        },
        deleted: (name, room) => {
          if (room.held) history.release(name);
        },
      },
    );
  }

  /** Encodes once and offers the frame to every member but `skip`; kept rooms get `seq`. */
  publish(
    room: string,
    topic: string,
    data: unknown,
    skip: ReadonlySet<R | undefined> | undefined,
  ): PublishResult {
    const members = this.rooms.get(room);
    if (members === undefined) {
      if (this.history?.tracks(room)) this.#append(room, topic, data);
      else this.#check?.(topic, data);
      return NOBODY;
    }
    if (!members.held) return deliver(members, textFrame(topic, data, this.#check), skip);
    const entry = this.#append(room, topic, data);
    return deliver(members, { data: entry.data, bytes: entry.bytes }, skip);
  }

  /** Offers bytes to every member of a room but `skip`: no envelope, so no `seq`, not kept. */
  publishBinary(
    room: string,
    data: Uint8Array<ArrayBuffer>,
    skip: ReadonlySet<R | undefined> | undefined,
  ): PublishResult {
    const members = this.rooms.get(room);
    if (members === undefined) return NOBODY;
    return deliver(members, { data, bytes: data.byteLength }, skip);
  }

  /** The result of a send that reaches nobody, once its data is checked (`validateOutbound`). */
  nobody(topic: string, data: unknown): PublishResult {
    this.#check?.(topic, data);
    return NOBODY;
  }

  /** Encodes once and offers the frame to each recipient but `skip` (not a room: no `seq`). */
  send(
    recipients: Iterable<R | undefined>,
    topic: string,
    data: unknown,
    skip: ReadonlySet<R | undefined> | undefined,
  ): PublishResult {
    return deliver(recipients, textFrame(topic, data, this.#check), skip);
  }

  /**
   * Keeps a room's history from now on (a client joined it with `$join`).
   * The room must have a member.
   *
   * @returns Its position.
   */
  keep(name: string): RoomPosition {
    const history = this.history!;
    const room = this.rooms.get(name)!;
    return room.held ? history.position(name)! : this.#hold(name, room);
  }

  #hold(name: string, room: Room<R>): RoomPosition {
    room.held = true;
    return this.history!.hold(name);
  }

  #append(room: string, topic: string, data: unknown): { data: string; bytes: number } {
    this.#check?.(topic, data);
    const head = encodeRoomHead(topic, data, room);
    return this.history!.append(room, head, utf8Length(head));
  }
}
