/**
 * The chat of `chat.ts`, served by Bun: the same `createChatServer()`, the
 * same protocol, handed to `Bun.serve` through the adapter.
 *
 * ```sh
 * bun examples/chat_bun.ts       # or: deno task example:bun; PORT=9000 bun examples/chat_bun.ts
 * ```
 *
 * Then, in a browser console (demo tokens: alice-token, bob-token, carol-token):
 *
 * ```js ignore
 * const ws = new WebSocket("ws://127.0.0.1:8000/?token=alice-token");
 * ws.onmessage = (e) => console.log(JSON.parse(e.data));
 * ws.send(JSON.stringify({ topic: "join", data: { room: "lobby" } }));
 * ws.send(JSON.stringify({ topic: "say", data: { room: "lobby", text: "hi all" } }));
 * ```
 *
 * Or the terminal client, on Bun too: `bun examples/chat_client.ts bob-token lobby`.
 *
 * Ctrl-C closes every session with 1001, then stops Bun's server.
 *
 * @module
 */

import process from "node:process";
import { bunAdapter, type BunServeOptions } from "../src/adapters/bun.ts";
import { createChatServer } from "./chat_app.ts";

/** The little of Bun's global this example uses, typed here so no `bun-types` is needed. */
declare const Bun: {
  serve(options: BunServeOptions & { hostname: string; port: number }): {
    readonly port: number;
    stop(closeActiveConnections?: boolean): Promise<void>;
  };
};

const hostname = "127.0.0.1";
const port = Number(process.env.PORT ?? 8000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}

const server = createChatServer({ log: (line) => console.log(line) });
const bun = Bun.serve({ hostname, port, ...bunAdapter(server) });
console.log(`chat (Bun) listening on http://${hostname}:${bun.port}/`);
console.log(`connect with ws://${hostname}:${bun.port}/?token=alice-token`);

const signals = ["SIGINT", "SIGTERM"] as const;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log(`shutting down ${server.sessions.size} session(s)`);
  await server.shutdown({ timeout: 2000 });
  await bun.stop();
  for (const signal of signals) process.off(signal, stop);
  console.log("bye");
};
for (const signal of signals) process.on(signal, stop);
