/**
 * The Deno baseline: a hand-written loop over `Deno.upgradeWebSocket`
 * sockets (a `Set`, `JSON.stringify` once per publish, `send` to each).
 * Behaviour: see `_behaviour.ts`. Prints `{"port":N}` first; exits on SIGTERM.
 *
 * `deno run --allow-net --v8-flags=--expose-gc bench/servers/raw_deno.ts`
 */
import { fanoutRequest, tickPad, TOKEN } from "./_behaviour.ts";

const room = new Set<WebSocket>();
const publishers = new WeakSet<WebSocket>();
const gc = (globalThis as { gc?: () => void }).gc;

function onOpen(this: WebSocket): void {
  if (!publishers.has(this)) room.add(this);
}

function onClose(this: WebSocket): void {
  room.delete(this);
}

function onMessage(this: WebSocket, event: MessageEvent): void {
  if (typeof event.data !== "string") return;
  const message = JSON.parse(event.data);
  if (message.topic === "echo") {
    this.send(JSON.stringify({ topic: "echo", data: message.data }));
  } else if (message.topic === "fanout") {
    const { count, size } = fanoutRequest(message.data);
    const pad = tickPad(size);
    for (let seq = 0; seq < count; seq++) {
      const text = JSON.stringify({ topic: "tick", data: { seq, pad } });
      for (const socket of room) socket.send(text);
    }
  }
}

Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen({ port }) {
    console.log(JSON.stringify({ port }));
  },
}, (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/mem") {
    gc?.();
    const { rss, heapUsed } = Deno.memoryUsage();
    return Response.json({ rss, heap: heapUsed, members: room.size });
  }
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("Upgrade Required", { status: 426 });
  }
  if (url.searchParams.get("token") !== TOKEN) return new Response("Unauthorized", { status: 401 });
  const { socket, response } = Deno.upgradeWebSocket(request);
  if (url.searchParams.has("pub")) publishers.add(socket);
  socket.onopen = onOpen;
  socket.onclose = onClose;
  socket.onmessage = onMessage;
  return response;
});

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
