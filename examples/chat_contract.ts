/**
 * The chat's contract: what the chat server (`chat_app.ts`) and its clients
 * (`chat_client_app.ts`, a browser) say to each other, with a schema for
 * each client topic and request, and a type for each server topic.
 *
 * Shared by the server and the clients, so it loads no server code: it
 * imports only the contract helpers of `@switchboard/ws/client`
 * (`../client/mod.ts` here), which a browser may load.
 *
 * ## Wire protocol
 *
 * Every text frame is `{"topic": string, "data": ...}`; a request adds an
 * `"id"` and gets one `$reply` with the same id (PROTOCOL.md).
 *
 * | from the client | data | answer |
 * | --- | --- | --- |
 * | `join` | `{ room }` | `members` `{ room, users }` to the joiner; `presence` `join` to the others |
 * | `leave` | `{ room }` | `left` `{ room }` to the leaver; `presence` `leave` to the others |
 * | `say` | `{ room, text }` | `message` `{ room, from, text }` to **every** member, the sender included |
 * | request `dm` | `{ to, text }` | `direct` `{ from, to, text }` to every session of user `to`; the `$reply` `{ to, sessions }` |
 * | request `who` | `{ room }` | the `$reply` `{ room, users }`: who is in a room one is in |
 *
 * On connect the server sends `welcome` `{ user, session }`.
 *
 * A client of protocol v1 (the switchboard client) joins rooms with
 * `client.join(room)` (`$join`) instead of `join`: the same chat rules and
 * the same presence, and the room resumes after a reconnect. It learns who
 * is there with `who`.
 *
 * Three kinds of refusal:
 *
 * - `$error` `{ code, message }` comes from the core: the frame is not an
 *   envelope, or the contract refused it (an unknown topic or a wrong data
 *   shape: code `"invalid"`, with `topic` and `issues`). Nothing else happens.
 * - `error` `{ request, code, message }` comes from the chat: a `join`,
 *   `leave` or `say` was well formed but broke a chat rule. `code` is one of
 *   {@linkcode ChatErrorCode}: a room name that is empty or longer than 64
 *   characters (`bad-room`), an empty or too long text (`bad-text`), too many
 *   rooms (`too-many-rooms`), `say`/`leave` in a room one is not in
 *   (`not-member`).
 * - A request (`dm`, `who`, `$join`) that breaks a chat rule gets a `$reply`
 *   with an error of the same codes: `offline` for a `dm` to a user with no
 *   open session, `not-member` for `who` of a room one is not in.
 *
 * @module
 */

import { defineContract, type StandardSchemaV1, type } from "../client/mod.ts";

/** Topics the client sends, with their data. */
export type ChatIn = {
  join: { room: string };
  leave: { room: string };
  say: { room: string; text: string };
};

/** Requests, with their input and output. */
export type ChatRequests = {
  /** A direct message: the number of the recipient's sessions it reached. */
  dm: { input: { to: string; text: string }; output: { to: string; sessions: number } };
  /** Who is in a room the session is in, once each, sorted. */
  who: { input: { room: string }; output: { room: string; users: string[] } };
};

/** Codes of the chat's refusals: the `error` message and the `$reply` errors. */
export type ChatErrorCode = "bad-room" | "bad-text" | "too-many-rooms" | "not-member" | "offline";

/** Why a session closed, as the server's `CloseCause` says (`chat_app.ts` checks they match). */
export type ChatCloseKind =
  | "client"
  | "server"
  | "overflow"
  | "too-large"
  | "invalid"
  | "policy"
  | "timeout"
  | "shutdown"
  | "error";

/** Topics the server sends, with their data. */
export type ChatOut = {
  welcome: { user: string; session: string };
  members: { room: string; users: string[] };
  left: { room: string };
  presence: {
    room: string;
    user: string;
    event: "join" | "leave";
    /** Only on a leave caused by a disconnect: why the session closed. */
    cause?: ChatCloseKind;
  };
  message: { room: string; from: string; text: string };
  direct: { from: string; to: string; text: string };
  error: { request: keyof ChatIn; code: ChatErrorCode; message: string };
};

/**
 * The chat's contract: each client topic's data and each request's input
 * is an object with exactly the string fields it needs (lengths and
 * membership are chat rules, checked by the server with a precise error);
 * server topics and request outputs are types only.
 */
export const chatContract = defineContract({
  client: {
    join: _strings<ChatIn["join"]>("room"),
    leave: _strings<ChatIn["leave"]>("room"),
    say: _strings<ChatIn["say"]>("room", "text"),
  },
  server: {
    welcome: type<ChatOut["welcome"]>(),
    members: type<ChatOut["members"]>(),
    left: type<ChatOut["left"]>(),
    presence: type<ChatOut["presence"]>(),
    message: type<ChatOut["message"]>(),
    direct: type<ChatOut["direct"]>(),
    error: type<ChatOut["error"]>(),
  },
  requests: {
    dm: {
      input: _strings<ChatRequests["dm"]["input"]>("to", "text"),
      output: type<ChatRequests["dm"]["output"]>(),
    },
    who: {
      input: _strings<ChatRequests["who"]["input"]>("room"),
      output: type<ChatRequests["who"]["output"]>(),
    },
  },
});

/** The longest room name, in UTF-16 code units. */
export const MAX_ROOM_LENGTH = 64;
/** The longest `say` or `dm` text, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 2000;
/** The most rooms one session may be in at once. */
export const MAX_ROOMS_PER_SESSION = 32;

/**
 * A Standard Schema written by hand: an object with exactly these string
 * fields, typed `T`.
 */
function _strings<T>(...fields: (keyof T & string)[]): StandardSchemaV1<T> {
  const validate = (data: unknown): StandardSchemaV1.Result<T> => {
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      return { issues: [{ message: `Expected an object with ${fields.join(", ")}` }] };
    }
    const issues: StandardSchemaV1.Issue[] = [];
    for (const field of fields) {
      if (
        typeof (data as Record<string, unknown>)[field] !== "string" || !Object.hasOwn(data, field)
      ) {
        issues.push({ path: [field], message: "Expected a string" });
      }
    }
    for (const key of Object.keys(data)) {
      if (!(fields as string[]).includes(key)) {
        issues.push({ path: [key], message: "Unknown field" });
      }
    }
    return issues.length > 0 ? { issues } : { value: data as T };
  };
  return { "~standard": { version: 1, vendor: "chat", validate } };
}
