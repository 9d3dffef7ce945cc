/**
 * The switchboard server under test, the same on both runtimes: only how
 * it is served and how memory is read differ (`switchboard_deno.ts`,
 * `switchboard_bun.ts`). Behaviour: see `_behaviour.ts`.
 */
import { HttpError, Server } from "../../mod.ts";
import { fanoutRequest, ROOM, tickPad, TOKEN } from "./_behaviour.ts";

/** What a session's context holds: whether it is the publisher (`&pub=1`). */
export interface BenchCtx {
  publisher: boolean;
}

/**
 * Creates the switchboard server of the benchmarks.
 *
 * @param memoryAfterGc Forces a GC and returns the process's RSS and JS heap
 * in use, for `GET /mem`.
 * @returns The server; hand its `fetch` to the runtime.
 */
export function createBenchServer(
  memoryAfterGc: () => { rss: number; heapUsed: number },
): Server<BenchCtx> {
  const server: Server<BenchCtx> = new Server<BenchCtx>({
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
      if (message.topic === "relay") {
        server.publish(ROOM, "relay", message.data, { except: session });
      } else if (message.topic === "echo") {
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
      const { rss, heapUsed } = memoryAfterGc();
      return Response.json({
        rss,
        heap: heapUsed,
        members: server.rooms.get(ROOM)?.size ?? 0,
      });
    },
  });
  return server;
}
