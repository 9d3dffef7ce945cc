/**
 * switchboard on Bun: `Server` from `mod.ts` served through `bunAdapter`,
 * the same behaviour as `raw_bun.ts` and `native_bun.ts` (see
 * `_behaviour.ts`). Prints `{"port":N}` first; exits on SIGTERM.
 *
 * `bun bench/servers/switchboard_bun.ts`
 */
import { HttpError, Server } from "../../mod.ts";
import { bunAdapter } from "../../src/adapters/bun.ts";
import { fanoutRequest, ROOM, tickPad, TOKEN } from "./_behaviour.ts";

declare const Bun: {
  serve(options: Record<string, unknown>): { port: number };
  gc(force: boolean): void;
};
declare const process: {
  on(signal: string, fn: () => void): void;
  exit(code: number): never;
  memoryUsage(): { rss: number; heapUsed: number };
};

const server = new Server({
  // One load client on one address drives thousands of sessions and tens of
  // thousands of messages per second: the two defences meant for exactly
  // that are off. Every other default stays on.
  maxSessionsPerClient: Infinity,
  rateLimit: false,
  context(request) {
    const params = new URL(request.url).searchParams;
    if (params.get("token") !== TOKEN) throw new HttpError(401, "Unauthorized");
    return { publisher: params.has("pub") };
  },
  onConnect(session) {
    if (!session.ctx.publisher) session.rooms.join(ROOM);
  },
  onMessage(session, message): void {
    if (message.topic === "echo") {
      session.send("echo", message.data);
    } else if (message.topic === "fanout") {
      const { count, size } = fanoutRequest(message.data);
      const pad = tickPad(size);
      for (let seq = 0; seq < count; seq++) server.publish(ROOM, "tick", { seq, pad });
    }
  },
  fallback(request): Response {
    if (new URL(request.url).pathname !== "/mem") {
      return new Response("Upgrade Required", { status: 426 });
    }
    Bun.gc(true);
    const { rss, heapUsed } = process.memoryUsage();
    return Response.json({
      rss,
      heap: heapUsed,
      members: server.rooms.get(ROOM)?.size ?? 0,
    });
  },
});

const http = Bun.serve({ port: 0, hostname: "127.0.0.1", ...bunAdapter(server) });
console.log(JSON.stringify({ port: http.port }));

process.on("SIGTERM", () => process.exit(0));
