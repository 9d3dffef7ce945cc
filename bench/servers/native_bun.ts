/**
 * Bun's own pub/sub: `Bun.serve` with `ws.subscribe` and `server.publish`
 * (uWebSockets batches each subscriber's frames into one write).
 * Behaviour: see `_behaviour.ts`. Prints `{"port":N}` first; exits on SIGTERM.
 *
 * `bun bench/servers/native_bun.ts`
 */
import { fanoutRequest, ROOM, tickPad, TOKEN } from "./_behaviour.ts";

interface Ws {
  readonly data: { publisher: boolean };
  send(data: string): number;
  subscribe(topic: string): void;
}
declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    fetch(
      request: Request,
      server: { upgrade(request: Request, options: { data: unknown }): boolean },
    ): Response | undefined;
    websocket: {
      open(ws: Ws): void;
      close(ws: Ws): void;
      message(ws: Ws, message: string | Uint8Array): void;
    };
  }): { port: number; publish(topic: string, data: string): number };
  gc(force: boolean): void;
};
declare const process: {
  on(signal: string, fn: () => void): void;
  exit(code: number): never;
  memoryUsage(): { rss: number; heapUsed: number };
};

let members = 0;

const http = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === "/mem") {
      Bun.gc(true);
      const { rss, heapUsed } = process.memoryUsage();
      return Response.json({ rss, heap: heapUsed, members });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Upgrade Required", { status: 426 });
    }
    if (url.searchParams.get("token") !== TOKEN) {
      return new Response("Unauthorized", { status: 401 });
    }
    const data = { publisher: url.searchParams.has("pub") };
    return server.upgrade(request, { data })
      ? undefined
      : new Response("Bad WebSocket handshake", { status: 400 });
  },
  websocket: {
    open(ws) {
      if (ws.data.publisher) return;
      ws.subscribe(ROOM);
      members++;
    },
    close(ws) {
      if (!ws.data.publisher) members--;
    },
    message(ws, message) {
      if (typeof message !== "string") return;
      const envelope = JSON.parse(message);
      if (envelope.topic === "echo") {
        ws.send(JSON.stringify({ topic: "echo", data: envelope.data }));
      } else if (envelope.topic === "fanout") {
        const { count, size } = fanoutRequest(envelope.data);
        const pad = tickPad(size);
        for (let seq = 0; seq < count; seq++) {
          http.publish(ROOM, JSON.stringify({ topic: "tick", data: { seq, pad } }));
        }
      }
    },
  },
});
console.log(JSON.stringify({ port: http.port }));

process.on("SIGTERM", () => process.exit(0));
