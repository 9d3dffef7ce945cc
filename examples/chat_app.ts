/**
 * The chat server behind `examples/chat.ts` (Deno) and `examples/chat_bun.ts`
 * (Bun): one {@linkcode createChatServer} that names no runtime.
 *
 * It shows the patterns a real app needs from switchboard:
 *
 * - **A contract**: `defineContract()` gives each client topic a schema
 *   (written by hand here, with no library; Zod, Valibot or ArkType work
 *   the same) and each server topic a type. It types `onMessage`, `send`
 *   and `publish`, and checks every inbound message at run time, so
 *   `onMessage` can trust the shapes.
 * - **Auth before the upgrade**: the context factory reads `?token=`, looks
 *   it up and returns `{ user }`, which becomes `session.ctx`. A missing or
 *   unknown token is refused with 401 and no socket is ever opened.
 * - **Rooms**: `join` / `leave` on request, `say` to a room, presence
 *   notices, `publish` with `except`.
 * - **Per-user fan-out**: an index user -> sessions kept in `onConnect` /
 *   `onClose`, and `server.sendTo`, so a direct message reaches every tab a
 *   user has open with one encoding.
 * - **Close causes**: a user's last session leaving a room on disconnect
 *   tells the room why (`client`, `timeout`, `overflow`, `shutdown`, ...).
 *
 * ## Wire protocol
 *
 * Every text frame is `{"topic": string, "data": ...}`.
 *
 * | from the client | data | answer |
 * | --- | --- | --- |
 * | `join` | `{ room }` | `members` `{ room, users }` to the joiner; `presence` `join` to the others |
 * | `leave` | `{ room }` | `left` `{ room }` to the leaver; `presence` `leave` to the others |
 * | `say` | `{ room, text }` | `message` `{ room, from, text }` to **every** member, the sender included |
 * | `dm` | `{ to, text }` | `direct` `{ from, to, text }` to every session of user `to`, none to the sender |
 *
 * On connect the server sends `welcome` `{ user, session }`.
 *
 * Two kinds of refusal, told apart by topic:
 *
 * - `$error` `{ code, message }` comes from the core: the frame is not an
 *   envelope, or the contract refused it (an unknown topic or a wrong data
 *   shape: code `"invalid"`, with `topic` and `issues`). Nothing else happens.
 * - `error` `{ request, code, message }` comes from this app: the request
 *   was well formed but broke a chat rule. `code` is one of
 *   {@linkcode ChatErrorCode}: a room name that is empty or longer than 64
 *   characters (`bad-room`), an empty or too long text (`bad-text`), too many
 *   rooms (`too-many-rooms`), `say`/`leave` in a room one is not in
 *   (`not-member`), `dm` to a user with no open session (`offline`).
 *
 * `say` echoes to the sender so that every member, the sender too, sees the
 * room's messages in the one order the server decided. Presence `join` is
 * published with `except` the joiner, who gets the `members` list instead.
 * Presence is per user, not per session: a user's second tab joining a room
 * they are already in is silent, and only their last session leaving it
 * announces the leave.
 *
 * Tokens travel in the URL because a browser `WebSocket` cannot set headers;
 * URLs end up in logs, so a real app would hand out short-lived tickets.
 *
 * @module
 */

import {
  type CloseCause,
  defineContract,
  HttpError,
  Server,
  type Session,
  type StandardSchemaV1,
  type,
} from "../mod.ts";

/** The context of a chat session: who the token belongs to. */
export type ChatContext = { readonly user: string };

/** Topics the client sends, with their data. */
export type ChatIn = {
  join: { room: string };
  leave: { room: string };
  say: { room: string; text: string };
  dm: { to: string; text: string };
};

/** Codes of the app-level `error` reply. */
export type ChatErrorCode = "bad-room" | "bad-text" | "too-many-rooms" | "not-member" | "offline";

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
    cause?: CloseCause["kind"];
  };
  message: { room: string; from: string; text: string };
  direct: { from: string; to: string; text: string };
  error: { request: keyof ChatIn; code: ChatErrorCode; message: string };
};

/** A chat session. */
export type ChatSession = Session<ChatContext, ChatIn, ChatOut>;

/** The chat server. */
export type ChatServer = Server<ChatContext, ChatIn, ChatOut>;

/**
 * The chat's contract: each client topic's data is an object with exactly
 * the string fields it needs (lengths and membership are chat rules, checked
 * in the handlers with a precise `error`); server topics are types only.
 */
export const chatContract = defineContract({
  client: {
    join: _strings<ChatIn["join"]>("room"),
    leave: _strings<ChatIn["leave"]>("room"),
    say: _strings<ChatIn["say"]>("room", "text"),
    dm: _strings<ChatIn["dm"]>("to", "text"),
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
});

/** Options of {@linkcode createChatServer}. */
export interface ChatServerOptions {
  /**
   * Token -> user name. Several tokens may name the same user.
   * @default {DEMO_TOKENS}
   */
  tokens?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /**
   * Receives one line per connect and disconnect, with the close cause.
   * @default {no logging}
   */
  log?: (line: string) => void;
}

/** The demo tokens: `alice-token`, `bob-token` and `carol-token`. */
export const DEMO_TOKENS: Readonly<Record<string, string>> = Object.freeze({
  "alice-token": "alice",
  "bob-token": "bob",
  "carol-token": "carol",
});

/** The longest room name, in UTF-16 code units. */
export const MAX_ROOM_LENGTH = 64;
/** The longest `say` or `dm` text, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 2000;
/** The most rooms one session may be in at once. */
export const MAX_ROOMS_PER_SESSION = 32;

/**
 * Creates the chat server. It names no runtime: serve `server.fetch` with
 * `Deno.serve`, or hand it to the Bun adapter.
 *
 * @param options The tokens and an optional log.
 * @returns The server; `server.sessions` and `server.rooms` show its state.
 *
 * @example Serve it on Deno
 * ```ts
 * import { createChatServer } from "./chat_app.ts";
 *
 * const server = createChatServer({ tokens: { "secret": "ada" } });
 * const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, server.fetch);
 * // ws://127.0.0.1:<port>/?token=secret
 * await server.shutdown();
 * await http.shutdown();
 * ```
 */
export function createChatServer(options: ChatServerOptions = {}): ChatServer {
  const tokens = _tokenMap(options.tokens ?? DEMO_TOKENS);
  const log = options.log;
  // Per-user fan-out: every open session of each user.
  const sessionsByUser = new Map<string, Set<ChatSession>>();

  /** Users with a session in the room, once each, sorted. */
  const usersIn = (room: string): string[] => {
    const users = new Set<string>();
    for (const member of server.rooms.get(room) ?? []) users.add(member.ctx.user);
    return [...users].sort();
  };

  /** Whether another open session of the same user is in the room. */
  const userStillIn = (session: ChatSession, room: string): boolean => {
    for (const other of sessionsByUser.get(session.ctx.user) ?? []) {
      if (other !== session && other.rooms.has(room)) return true;
    }
    return false;
  };

  const refuse = (
    session: ChatSession,
    request: keyof ChatIn,
    code: ChatErrorCode,
    message: string,
  ): void => {
    session.send("error", { request, code, message });
  };

  const join = (session: ChatSession, room: string): void => {
    if (!_isRoomName(room)) {
      refuse(
        session,
        "join",
        "bad-room",
        `Room names have 1 to ${MAX_ROOM_LENGTH} characters, got ${room.length}`,
      );
      return;
    }
    if (!session.rooms.has(room) && session.rooms.current.size >= MAX_ROOMS_PER_SESSION) {
      refuse(
        session,
        "join",
        "too-many-rooms",
        `Cannot join room "${room}": already in ${MAX_ROOMS_PER_SESSION} rooms`,
      );
      return;
    }
    const announce = !userStillIn(session, room);
    if (session.rooms.join(room) && announce) {
      server.publish(
        room,
        "presence",
        { room, user: session.ctx.user, event: "join" },
        { except: session },
      );
    }
    // Also the answer to joining a room one is already in: joins are idempotent.
    session.send("members", { room, users: usersIn(room) });
  };

  const leave = (session: ChatSession, room: string): void => {
    if (!session.rooms.leave(room)) {
      refuse(session, "leave", "not-member", `Cannot leave room "${room}": not a member`);
      return;
    }
    session.send("left", { room });
    if (!userStillIn(session, room)) {
      server.publish(room, "presence", { room, user: session.ctx.user, event: "leave" });
    }
  };

  const say = (session: ChatSession, room: string, text: string): void => {
    if (!_isText(text)) {
      refuse(session, "say", "bad-text", `Texts have 1 to ${MAX_TEXT_LENGTH} characters`);
    } else if (!session.rooms.has(room)) {
      refuse(session, "say", "not-member", `Cannot say in room "${room}": not a member`);
    } else {
      server.publish(room, "message", { room, from: session.ctx.user, text });
    }
  };

  const dm = (session: ChatSession, to: string, text: string): void => {
    if (!_isText(text)) {
      refuse(session, "dm", "bad-text", `Texts have 1 to ${MAX_TEXT_LENGTH} characters`);
      return;
    }
    // One encoding for every tab of the user.
    const result = server.sendTo(sessionsByUser.get(to) ?? [], "direct", {
      from: session.ctx.user,
      to,
      text,
    });
    if (result.recipients === result.closed) {
      refuse(session, "dm", "offline", `Cannot send to "${to}": no open session`);
    }
  };

  const server: ChatServer = new Server({
    contract: chatContract,
    // Chat frames are small; the core's 1 MiB default is for bulk traffic.
    maxMessageBytes: 16 * 1024,

    context(request): ChatContext {
      const token = new URL(request.url).searchParams.get("token");
      if (token === null || token === "") throw new HttpError(401, "Missing token");
      const user = tokens.get(token);
      if (user === undefined) throw new HttpError(401, "Unknown token");
      return { user };
    },

    onConnect(session) {
      const { user } = session.ctx;
      let mine = sessionsByUser.get(user);
      if (mine === undefined) sessionsByUser.set(user, mine = new Set());
      mine.add(session);
      session.send("welcome", { user, session: session.id });
      log?.(`${user} connected (session ${session.id}, ${mine.size} open)`);
    },

    onMessage(session, message) {
      switch (message.topic) {
        case "join":
          return join(session, message.data.room);
        case "leave":
          return leave(session, message.data.room);
        case "say":
          return say(session, message.data.room, message.data.text);
        case "dm":
          return dm(session, message.data.to, message.data.text);
      }
    },

    onClose(session, cause) {
      const { user } = session.ctx;
      const mine = sessionsByUser.get(user);
      mine?.delete(session);
      if (mine?.size === 0) sessionsByUser.delete(user);
      // The session already left its rooms (`cause.rooms` says which), so a
      // publish reaches only the others.
      for (const room of cause.rooms) {
        if (!userStillIn(session, room)) {
          server.publish(room, "presence", { room, user, event: "leave", cause: cause.kind });
        }
      }
      log?.(
        `${user} disconnected: ${cause.kind} ${cause.code} ${JSON.stringify(cause.reason)}` +
          (cause.forced ? " (forced)" : ""),
      );
    },

    fallback(request) {
      const url = new URL(request.url);
      if (url.pathname !== "/") return new Response("Not Found", { status: 404 });
      return new Response(_help(url), {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    },
  });
  return server;
}

function _tokenMap(
  tokens: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
): ReadonlyMap<string, string> {
  // A Map, so that a token like "__proto__" or "constructor" cannot reach Object.prototype.
  return tokens instanceof Map ? new Map(tokens) : new Map(Object.entries(tokens));
}

function _isRoomName(room: string): boolean {
  return room.length >= 1 && room.length <= MAX_ROOM_LENGTH;
}

function _isText(text: string): boolean {
  return text.length >= 1 && text.length <= MAX_TEXT_LENGTH;
}

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

function _help(url: URL): string {
  const ws = `ws://${url.host}/?token=alice-token`;
  return `switchboard chat example

Connect a WebSocket with a token (demo tokens: alice-token, bob-token, carol-token):

  const ws = new WebSocket("${ws}");
  ws.onmessage = (e) => console.log(JSON.parse(e.data));

Then send JSON envelopes {"topic": ..., "data": ...}:

  ws.send(JSON.stringify({ topic: "join", data: { room: "lobby" } }));
  ws.send(JSON.stringify({ topic: "say", data: { room: "lobby", text: "hi all" } }));
  ws.send(JSON.stringify({ topic: "dm", data: { to: "bob", text: "psst" } }));
  ws.send(JSON.stringify({ topic: "leave", data: { room: "lobby" } }));

Server topics: welcome, members, left, presence, message, direct, error ($error for malformed frames).
`;
}
