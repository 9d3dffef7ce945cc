/**
 * A terminal client of the chat of `chat.ts`, for Deno and Bun, written with
 * the switchboard client and typed by the same contract as the server.
 *
 * ```sh
 * deno task example                                        # the server, in one terminal
 * deno run --allow-net examples/chat_client.ts alice-token lobby
 * bun examples/chat_client.ts bob-token lobby              # or: deno task example:client bob-token lobby
 * ```
 *
 * Arguments: a token (demo tokens: alice-token, bob-token, carol-token),
 * then rooms to join; `--url ws://host:port/` for another server than
 * `ws://127.0.0.1:8000/`. Then type: a line says it in the current room;
 * `/join room`, `/leave [room]`, `/who [room]`, `/dm user text`, `/quit`.
 *
 * Stop the server and start it again: the client prints
 * `~ reconnecting in ...` lines, then `~ reconnected`, and re-joins its
 * rooms. A server restarted with its history (`createChatServer({ history })`)
 * replays what was missed (`~ lobby: recovered, ...`); a fresh one cannot
 * (`~ lobby: not recovered (epoch)`). See `chat_client_app.ts`.
 *
 * @module
 */

import process from "node:process";
import { createInterface } from "node:readline";
import { ChatTerminal } from "./chat_client_app.ts";

const USAGE = "usage: chat_client.ts <token> [room ...] [--url ws://127.0.0.1:8000/]";

const args = process.argv.slice(2);
let url = "ws://127.0.0.1:8000/";
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--url" && i + 1 < args.length) url = args[++i];
  else if (args[i].startsWith("--url=")) url = args[i].slice("--url=".length);
  else if (args[i] === "--help" || args[i] === "-h" || args[i].startsWith("--")) {
    console.error(USAGE);
    process.exit(2);
  } else positional.push(args[i]);
}
const [token, ...rooms] = positional;
if (token === undefined) {
  console.error(USAGE);
  process.exit(2);
}

let chat: ChatTerminal;
try {
  chat = new ChatTerminal({ url, token, print: (line) => console.log(line) });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
}
for (const room of rooms) void chat.join(room);

// One line a command, until `/quit`, the end of stdin (Ctrl-D) or Ctrl-C.
const lines = createInterface({ input: process.stdin, terminal: false });
process.once("SIGINT", () => lines.close());
for await (const line of lines) {
  if (!chat.input(line)) break;
}
lines.close();
await chat.close();
