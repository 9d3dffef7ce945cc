/**
 * The chat server behind `examples/chat.ts` (Deno) and `examples/chat_bun.ts`
 * (Bun): one {@linkcode createChatServer} that names no runtime. Its
 * protocol and contract are in `chat_contract.ts`, shared with the terminal
 * client (`chat_client.ts`); plain browser `WebSocket`s are served too.
 *
 * It shows the patterns a real app needs from switchboard:
 *
 * - **A contract**: `defineContract()` gives each client topic and request
 *   a schema (written by hand, with no library; Zod, Valibot or ArkType work
 *   the same) and each server topic a type. It types `onMessage`, `send`,
 *   `publish` and the request handlers, and checks every inbound message at
 *   run time, so the handlers can trust the shapes.
 * - **Auth before the upgrade**: the context factory reads `?token=`, looks
 *   it up and returns `{ user }`, which becomes `session.ctx`. A missing or
 *   unknown token is refused with 401 and no socket is ever opened.
 * - **Rooms two ways**: a plain client sends `join` / `leave`; a client of
 *   protocol v1 joins with `$join`, checked by `authorizeJoin` under the same
 *   chat rules (a refusal is a `RequestError` with the chat's code), and
 *   resumes its rooms from the history after a reconnect. Presence is the
 *   same for both, and travels in the room's stream: a resumed client gets
 *   the comings and goings it missed, in order.
 * - **Requests**: `dm` and `who` answer with a typed reply or a
 *   `RequestError` (`offline`, `not-member`).
 * - **Per-user fan-out**: an index user -> sessions kept in `onConnect` /
 *   `onClose`, and `server.sendTo`, so a direct message reaches every tab a
 *   user has open with one encoding.
 * - **Close causes**: a user's last session leaving a room on disconnect
 *   tells the room why (`client`, `timeout`, `overflow`, `shutdown`, ...).
 *
 * `say` echoes to the sender so that every member, the sender too, sees the
 * room's messages in the one order the server decided. Presence `join` is
 * published before the joiner is in the room, so it reaches only the others;
 * the joiner gets the `members` list instead (or asks `who`). Presence is per
 * user, not per session: a user's second tab joining a room they are already
 * in is silent, and only their last session leaving it announces the leave.
 *
 * Tokens travel in the URL because a browser `WebSocket` cannot set headers;
 * URLs end up in logs, so a real app would hand out short-lived tickets.
 *
 * @module
 */

import { HttpError, RequestError, Server, type ServerOptions, type Session } from "../mod.ts";
import {
  type ChatCloseKind,
  chatContract,
  type ChatErrorCode,
  type ChatIn,
  type ChatOut,
  type ChatRequests,
  MAX_ROOM_LENGTH,
  MAX_ROOMS_PER_SESSION,
  MAX_TEXT_LENGTH,
} from "./chat_contract.ts";

/** The context of a chat session: who the token belongs to. */
export type ChatContext = { readonly user: string };

/** A chat session. */
export type ChatSession = Session<ChatContext, ChatIn, ChatOut>;

/** The chat server. */
export type ChatServer = Server<ChatContext, ChatIn, ChatOut, ChatRequests>;

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
  /**
   * The rooms' history, as the server's `history` option: pass an earlier
   * chat server's `server.history` to restart without losing the rooms, so
   * that clients resume where they were.
   * @default {true}
   */
  history?: ServerOptions<ChatContext, ChatIn, ChatOut, ChatRequests>["history"];
}

/** The demo tokens: `alice-token`, `bob-token` and `carol-token`. */
export const DEMO_TOKENS: Readonly<Record<string, string>> = Object.freeze({
  "alice-token": "alice",
  "bob-token": "bob",
  "carol-token": "carol",
});

/**
 * Creates the chat server. It names no runtime: serve `server.fetch` with
 * `Deno.serve`, or hand it to the Bun adapter.
 *
 * @param options The tokens, an optional log, the history to resume.
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

  /** Why the session may not join the room under the chat's rules, if it may not. */
  const roomRule = (session: ChatSession, room: string): [ChatErrorCode, string] | undefined => {
    if (!_isRoomName(room)) {
      return [
        "bad-room",
        `Room names have 1 to ${MAX_ROOM_LENGTH} characters, got ${room.length}`,
      ];
    }
    if (!session.rooms.has(room) && session.rooms.current.size >= MAX_ROOMS_PER_SESSION) {
      return [
        "too-many-rooms",
        `Cannot join room "${room}": already in ${MAX_ROOMS_PER_SESSION} rooms`,
      ];
    }
    return undefined;
  };

  /**
   * Tells the room that the session's user came, unless the session or
   * another of the user's is there already. Called just before the session
   * joins, so the joiner never gets its own presence.
   */
  const announce = (session: ChatSession, room: string): void => {
    if (session.rooms.has(room) || userStillIn(session, room)) return;
    server.publish(room, "presence", { room, user: session.ctx.user, event: "join" });
  };

  /** A plain client's `join`: the chat's rules, then presence, the join, the member list. */
  const join = (session: ChatSession, room: string): void => {
    const refusal = roomRule(session, room);
    if (refusal !== undefined) return refuse(session, "join", ...refusal);
    announce(session, room);
    session.rooms.join(room);
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

  const server: ChatServer = new Server({
    contract: chatContract,
    // Chat frames are small; the core's 1 MiB default is for bulk traffic.
    maxMessageBytes: 16 * 1024,
    history: options.history ?? true,

    // A v1 client's `$join` (`client.join(room)`), first or after a
    // reconnect: the chat's rules, as a refusal with the chat's code. It is
    // synchronous, so the core joins the session right after it returns
    // `true`, in the same step: the presence announced here is in the
    // room's stream just before the joiner's position.
    authorizeJoin(session, room) {
      const refusal = roomRule(session, room);
      if (refusal !== undefined) throw new RequestError(...refusal);
      if (session.state !== "open") return false;
      announce(session, room);
      return true;
    },

    requests: {
      dm(session, { to, text }) {
        if (!_isText(text)) {
          throw new RequestError("bad-text", `Texts have 1 to ${MAX_TEXT_LENGTH} characters`);
        }
        // One encoding for every tab of the user.
        const result = server.sendTo(sessionsByUser.get(to) ?? [], "direct", {
          from: session.ctx.user,
          to,
          text,
        });
        const sessions = result.recipients - result.closed;
        if (sessions === 0) {
          throw new RequestError("offline", `Cannot send to "${to}": no open session`);
        }
        return { to, sessions };
      },
      who(session, { room }) {
        if (!session.rooms.has(room)) {
          throw new RequestError("not-member", `Cannot list room "${room}": not a member`);
        }
        return { room, users: usersIn(room) };
      },
    },

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
          const kind: ChatCloseKind = cause.kind;
          server.publish(room, "presence", { room, user, event: "leave", cause: kind });
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

function _help(url: URL): string {
  const ws = `ws://${url.host}/?token=alice-token`;
  return `switchboard chat example

Connect a WebSocket with a token (demo tokens: alice-token, bob-token, carol-token):

  const ws = new WebSocket("${ws}");
  ws.onmessage = (e) => console.log(JSON.parse(e.data));

Then send JSON envelopes {"topic": ..., "data": ...}:

  ws.send(JSON.stringify({ topic: "join", data: { room: "lobby" } }));
  ws.send(JSON.stringify({ topic: "say", data: { room: "lobby", text: "hi all" } }));
  ws.send(JSON.stringify({ topic: "leave", data: { room: "lobby" } }));

Requests carry an id and get one {"topic": "$reply", "id": ..., "data" or "error": ...}:

  ws.send(JSON.stringify({ topic: "dm", data: { to: "bob", text: "psst" }, id: 1 }));
  ws.send(JSON.stringify({ topic: "who", data: { room: "lobby" }, id: 2 }));

Server topics: welcome, members, left, presence, message, direct, error ($error for malformed frames).

Or the terminal client: deno run --allow-net examples/chat_client.ts alice-token lobby --url ws://${url.host}/
`;
}
