/**
 * A room chat with token auth, presence and direct messages, on Deno.
 *
 * ```sh
 * deno task example              # or: PORT=9000 deno task example
 * ```
 *
 * Then, in a browser console (any page; demo tokens: alice-token, bob-token,
 * carol-token; open a second tab as bob to see presence and messages):
 *
 * ```js ignore
 * const ws = new WebSocket("ws://127.0.0.1:8000/?token=alice-token");
 * ws.onmessage = (e) => console.log(JSON.parse(e.data));
 * ws.send(JSON.stringify({ topic: "join", data: { room: "lobby" } }));
 * ws.send(JSON.stringify({ topic: "say", data: { room: "lobby", text: "hi all" } }));
 * ws.send(JSON.stringify({ topic: "dm", data: { to: "bob", text: "psst" }, id: 1 })); // a request: one $reply
 * ws.send(JSON.stringify({ topic: "who", data: { room: "lobby" }, id: 2 }));
 * ws.send(JSON.stringify({ topic: "leave", data: { room: "lobby" } }));
 * ws.close();
 * ```
 *
 * Or the terminal client, typed by the same contract, which resumes its
 * rooms after a reconnect (`deno task example:client alice-token lobby`,
 * see `chat_client.ts`).
 *
 * A wrong token is refused before the upgrade:
 * `curl -i http://127.0.0.1:8000/?token=nope -H "Upgrade: websocket"` gives 401.
 * The protocol is described in `chat_contract.ts`; `http://127.0.0.1:8000/` shows a
 * short help page. Ctrl-C closes every session with 1001, then stops.
 *
 * @module
 */

import { createChatServer } from "./chat_app.ts";

const hostname = "127.0.0.1";
const port = Number(Deno.env.get("PORT") ?? 8000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${JSON.stringify(Deno.env.get("PORT"))}`);
  Deno.exit(2);
}

const server = createChatServer({ log: (line) => console.log(line) });
const http = Deno.serve({
  hostname,
  port,
  onListen({ port }) {
    console.log(`chat listening on http://${hostname}:${port}/`);
    console.log(`connect with ws://${hostname}:${port}/?token=alice-token`);
  },
}, server.fetch);

const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log(`shutting down ${server.sessions.size} session(s)`);
  await server.shutdown({ timeout: 2000 });
  await http.shutdown();
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  console.log("bye");
};
for (const signal of signals) Deno.addSignalListener(signal, stop);
