/**
 * switchboard on Deno: `Server` from `mod.ts` with `server.publish`, the
 * same behaviour as `raw_deno.ts` (see `_behaviour.ts`). Prints
 * `{"port":N}` first; exits on SIGTERM.
 *
 * `deno run --allow-net --v8-flags=--expose-gc bench/servers/switchboard_deno.ts`
 */
import { HttpError, Server } from "../../mod.ts";
import { fanoutRequest, ROOM, tickPad, TOKEN } from "./_behaviour.ts";

const gc = (globalThis as { gc?: () => void }).gc;

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
    gc?.();
    const { rss, heapUsed } = Deno.memoryUsage();
    return Response.json({
      rss,
      heap: heapUsed,
      members: server.rooms.get(ROOM)?.size ?? 0,
    });
  },
});

Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen({ port }) {
    console.log(JSON.stringify({ port }));
  },
}, server.fetch);

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
