/**
 * The Deno baseline: a hand-written loop over `Deno.upgradeWebSocket`
 * sockets (a `Set`, `JSON.stringify` once per publish, `send` to each;
 * a relay skips the sender).
 * Behaviour: see `_behaviour.ts`. Prints `{"port":N}` first; exits on SIGTERM.
 *
 * `deno run --allow-net --v8-flags=--expose-gc bench/servers/raw_deno.ts`
 */
import { IDLE_TIMEOUT, memResponse, textHandler, TOKEN } from "./_behaviour.ts";
import { memory, serve } from "./_deno.ts";

const room = new Set<WebSocket>();
const publishers = new WeakSet<WebSocket>();

function onOpen(this: WebSocket): void {
  if (!publishers.has(this)) room.add(this);
}

function onClose(this: WebSocket): void {
  room.delete(this);
}

const onText = textHandler<WebSocket>((text) => {
  for (const socket of room) socket.send(text);
}, (sender, text) => {
  for (const socket of room) if (socket !== sender) socket.send(text);
});

function onMessage(this: WebSocket, event: MessageEvent): void {
  if (typeof event.data === "string") onText(this, event.data);
}

serve((request) => {
  const url = new URL(request.url);
  if (url.pathname === "/mem") return memResponse(url, memory, room.size);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("Upgrade Required", { status: 426 });
  }
  if (url.searchParams.get("token") !== TOKEN) return new Response("Unauthorized", { status: 401 });
  const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: IDLE_TIMEOUT });
  if (url.searchParams.has("pub")) publishers.add(socket);
  socket.onopen = onOpen;
  socket.onclose = onClose;
  socket.onmessage = onMessage;
  return response;
});
