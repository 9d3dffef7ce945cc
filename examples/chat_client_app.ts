/**
 * The terminal chat client behind `examples/chat_client.ts`: a
 * {@linkcode ChatTerminal} turns typed lines into calls of the switchboard
 * client and what the server sends into printed lines. It names no runtime
 * and loads no server code: only the client (`../client/mod.ts`, published
 * as `@switchboard/ws/client`) and the contract shared with the server.
 *
 * What it shows of the client:
 *
 * - **Typed by the server's contract**: `send("say", ...)`, `on("message", ...)`
 *   and `request("dm", ...)` know their data; a wrong one does not compile.
 * - **Rooms that resume**: `/join` is `client.join(room)`. After a lost
 *   connection the client re-joins every room with its last position and
 *   the server replays what was missed: `~ lobby: recovered, 2 missed
 *   messages replayed`, or says it cannot (`~ lobby: not recovered (epoch)`).
 * - **Requests**: `/dm` and `/who` wait for a typed reply, or a `ReplyError`
 *   with the chat's code (`offline`, `not-member`, `bad-room`, ...).
 * - **State lines**: `~ reconnecting in 412 ms (1001 Server shutting down)`,
 *   `~ reconnected`, `~ closed (client 1000)`.
 *
 * | typed | does |
 * | --- | --- |
 * | `text` | says it in the current room (the last one joined) |
 * | `/join room` | joins (and resumes) a room, and lists who is there |
 * | `/leave [room]` | leaves a room (the current one by default) |
 * | `/who [room]` | lists who is in a room |
 * | `/dm user text` | sends a direct message to every session of a user |
 * | `/quit` | closes and exits |
 *
 * Printed lines start with `[room]` (room traffic), `[dm ...]` (direct
 * messages), `~` (the connection and the rooms) or `!` (refusals).
 *
 * @module
 */

import {
  type Client,
  connect,
  type ReconnectOptions,
  ReplyError,
  type ServerMessage,
} from "../client/mod.ts";
import { chatContract, type ChatIn, type ChatOut, type ChatRequests } from "./chat_contract.ts";

/** Options of a {@linkcode ChatTerminal}. */
export interface ChatTerminalOptions {
  /** The chat server's WebSocket URL, e.g. `ws://127.0.0.1:8000/`. */
  url: string | URL;
  /** The token, sent as `?token=` on every connection attempt. */
  token: string;
  /** Shows one line to the user. */
  print: (line: string) => void;
  /**
   * How the client reconnects.
   * @default {the client's defaults}
   */
  reconnect?: ReconnectOptions;
}

/** The commands, for `/help`. */
const _HELP = "text: say it in the current room · /join room · /leave [room] · /who [room] · " +
  "/dm user text · /quit";

/**
 * A terminal chat: lines in with {@linkcode ChatTerminal.input}, lines out
 * through `print`.
 *
 * @example Usage
 * ```ts ignore
 * const chat = new ChatTerminal({ url: "ws://127.0.0.1:8000/", token: "alice-token", print: console.log });
 * chat.input("/join lobby");
 * chat.input("hello everyone");
 * await chat.close();
 * ```
 */
export class ChatTerminal {
  /** The switchboard client underneath, typed by the chat's contract. */
  readonly client: Client<ChatIn, ChatOut, ChatRequests>;
  readonly #print: (line: string) => void;
  /** Where plain lines go: the last room joined. */
  #room: string | undefined;
  /** Rooms being re-joined after a reconnect, with the messages replayed so far. */
  readonly #resuming = new Map<string, number>();
  #closing = false;

  /**
   * Connects (in the background) and starts printing.
   *
   * @param options The server, the token, where lines go.
   */
  constructor(options: ChatTerminalOptions) {
    this.#print = options.print;
    this.client = connect(options.url, {
      contract: chatContract,
      params: { token: options.token },
      ...(options.reconnect ? { reconnect: options.reconnect } : {}),
    });
    this.#listen();
  }

  /** The room plain lines are said in, if any. */
  get room(): string | undefined {
    return this.#room;
  }

  /**
   * Handles one typed line. What it starts (a join, a request) finishes in
   * the background and prints its outcome.
   *
   * @param line The line, without its newline.
   * @returns `false` for `/quit`: call {@linkcode ChatTerminal.close}.
   */
  input(line: string): boolean {
    const text = line.trim();
    if (text === "") return true;
    if (!text.startsWith("/")) {
      if (this.#room === undefined) this.#print("! join a room first: /join lobby");
      else this.#say(this.#room, text);
      return true;
    }
    const [command, first = "", ...rest] = text.split(/\s+/);
    switch (command) {
      case "/quit":
        return false;
      case "/join":
        if (first === "") this.#print("! usage: /join room");
        else void this.join(first);
        return true;
      case "/leave":
        void this.leave(first || this.#room);
        return true;
      case "/who":
        void this.who(first || this.#room);
        return true;
      case "/dm":
        if (first === "" || rest.length === 0) this.#print("! usage: /dm user text");
        else void this.dm(first, rest.join(" "));
        return true;
      case "/help":
        this.#print(`~ ${_HELP}`);
        return true;
      default:
        this.#print(`! unknown command ${command}: ${_HELP}`);
        return true;
    }
  }

  /**
   * Joins a room for good: the client re-joins it after every reconnect.
   * It becomes the current room. Prints who is there, or the refusal.
   *
   * @param room The room.
   */
  async join(room: string): Promise<void> {
    const previous = this.#room;
    this.#room = room; // lines typed while the join is on its way go after it
    try {
      await this.client.join(room);
    } catch (error) {
      if (this.#room === room) this.#room = previous;
      this.#refused(`join ${room}`, error);
      return;
    }
    await this.who(room, "joined");
  }

  /**
   * Leaves a room. The chat's `leave` tells the others (a `$leave` alone
   * leaves silently); `client.leave()` then stops keeping the room. When
   * not connected, the server already announced the leave as the session
   * closed: only the second step is left.
   *
   * @param room The room.
   */
  async leave(room: string | undefined): Promise<void> {
    if (room === undefined) return this.#print("! usage: /leave room");
    try {
      if (this.client.state === "open") this.client.send("leave", { room });
      const leaving = this.client.leave(room); // the room is no longer kept from now on
      if (this.#room === room) this.#room = this.client.rooms.at(-1)?.room;
      await leaving;
    } catch (error) {
      this.#refused(`leave ${room}`, error);
    }
  }

  /**
   * Asks who is in a room (a typed request) and prints the answer.
   *
   * @param room The room.
   * @param what How the line starts.
   */
  async who(room: string | undefined, what = "here"): Promise<void> {
    if (room === undefined) return this.#print("! usage: /who room");
    try {
      const { users } = await this.client.request("who", { room });
      this.#print(`~ ${what} ${room}: ${users.join(", ")}`);
    } catch (error) {
      this.#refused(`who ${room}`, error);
    }
  }

  /**
   * Sends a direct message (a typed request): printed once the server
   * delivered it, or the refusal (`offline`).
   *
   * @param to The user.
   * @param text The text.
   */
  async dm(to: string, text: string): Promise<void> {
    try {
      const { sessions } = await this.client.request("dm", { to, text });
      this.#print(`[dm to ${to}] ${text}` + (sessions > 1 ? ` (${sessions} sessions)` : ""));
    } catch (error) {
      this.#refused(`dm ${to}`, error);
    }
  }

  /**
   * Closes the connection for good.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    this.#closing = true;
    return this.client.close();
  }

  #listen(): void {
    const { client } = this;
    const print = this.#print;
    client.on("welcome", ({ user }) => print(`~ connected as ${user}`));
    client.on("message", ({ room: name, from, text }, message) => {
      this.#delivered(message);
      print(`[${name}] ${from}: ${text}`);
    });
    client.on("presence", ({ room: name, user, event, cause }, message) => {
      this.#delivered(message);
      const how = event === "join" ? "joined" : cause ? `left (${cause})` : "left";
      print(`[${name}] * ${user} ${how}`);
    });
    client.on("direct", ({ from, text }) => print(`[dm from ${from}] ${text}`));
    client.on("members", ({ room: name, users }) => print(`~ here ${name}: ${users.join(", ")}`));
    client.on("left", ({ room: name }) => print(`~ left ${name}`));
    client.on("error", ({ request, code, message }) => print(`! ${request}: ${message} (${code})`));

    const events = client.events;
    events.on("open", ({ reconnected }) => {
      if (!reconnected) return;
      print("~ reconnected");
      for (const { room: name } of client.rooms) this.#resuming.set(name, 0);
    });
    events.on("reconnecting", ({ code, reason, delay }) => {
      const why = reason
        ? `${code} ${reason}`
        : code === 0 || code === 1006
        ? "no connection"
        : code;
      print(`~ reconnecting in ${Math.round(delay)} ms (${why})`);
    });
    events.on("recovery", ({ room: name, recovered, reason }) => {
      const replayed = this.#resuming.get(name) ?? 0;
      this.#resuming.delete(name);
      print(
        recovered
          ? `~ ${name}: recovered, ${replayed} missed message${replayed === 1 ? "" : "s"} replayed`
          : `~ ${name}: not recovered (${reason}): earlier messages may be missing`,
      );
    });
    events.on("gap", ({ room: name, expected, received }) => {
      print(`~ ${name}: messages ${expected} to ${received - 1} are missing`);
    });
    events.on(
      "rejected",
      ({ code, message }) => print(`! refused by the server: ${message} (${code})`),
    );
    events.on("drop", ({ topic, reason }) => print(`! not sent (${reason}): ${topic}`));
    events.on("closed", ({ cause, code, reason }) => {
      print(`~ closed (${cause} ${code}${reason ? ` ${reason}` : ""})`);
    });
  }

  #say(room: string, text: string): void {
    try {
      this.client.send("say", { room, text });
    } catch (error) {
      this.#refused(`say ${room}`, error); // over the server's maxMessageBytes, say
    }
  }

  /** Counts a room message delivered while its room is being re-joined: a replayed one. */
  #delivered({ room }: ServerMessage): void {
    const replayed = room === undefined ? undefined : this.#resuming.get(room);
    if (replayed !== undefined) this.#resuming.set(room!, replayed + 1);
  }

  #refused(what: string, error: unknown): void {
    if (this.#closing) return; // closing rejects what is still waiting: nothing to tell
    if (error instanceof ReplyError) this.#print(`! ${what}: ${error.message} (${error.code})`);
    else this.#print(`! ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
