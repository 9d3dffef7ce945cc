/**
 * The switchboard server under test, the same on both runtimes: only how
 * it is served and how memory is read differ (`switchboard_deno.ts`,
 * `switchboard_bun.ts`). Behaviour: see `_behaviour.ts`; it also answers
 * `GET /stats` with `server.stats`.
 */
import { HttpError, Server, type ServerOptions } from "../../mod.ts";
import { fanoutRequest, memResponse, type ReadMemory, ROOM, tickPad, TOKEN } from "./_behaviour.ts";

/** What a session's context holds: whether it is the publisher (`&pub=1`). */
export interface BenchCtx {
  publisher: boolean;
}

/**
 * Which defences the server has on:
 *
 * - `"load"`: no rate limit and no limit of sessions per client, for the
 *   load harness (`load.ts`, `soak.ts`), whose one client on one address
 *   drives thousands of sessions and tens of thousands of messages a second;
 * - `"default"`: every default, the byte budget of `rateLimit` included;
 * - `"messages"`: the default message rate (100/s, burst 200) with no byte
 *   budget to speak of (`bytes: 1e12`), as `rateLimit` was before it had one.
 */
export type BenchLimits = "load" | "default" | "messages";

const _LIMITS: Record<
  BenchLimits,
  Pick<ServerOptions<BenchCtx, object, object>, "maxSessionsPerClient" | "rateLimit">
> = {
  load: { maxSessionsPerClient: Infinity, rateLimit: false },
  default: {},
  messages: { rateLimit: { rate: 100, burst: 200, bytes: 1e12, burstBytes: 1 << 20 } },
};

/** Options of {@linkcode createBenchServer}. */
export interface BenchServerOptions {
  /**
   * Which defences are on.
   *
   * @default {"load"}
   */
  limits?: BenchLimits;
}

/**
 * Reads `--limits=<load|default|messages>` from a server script's arguments.
 *
 * @param args The arguments after the script's path.
 * @returns The limits; `"load"` if none were given.
 * @throws {RangeError} If the value or another argument is unknown.
 */
export function limitsArg(args: readonly string[]): BenchLimits {
  let limits: BenchLimits = "load";
  for (const arg of args) {
    const value = arg.startsWith("--limits=") ? arg.slice("--limits=".length) : undefined;
    if (value === undefined || !Object.hasOwn(_LIMITS, value)) {
      throw new RangeError(`Unknown argument "${arg}": expected --limits=load|default|messages`);
    }
    limits = value as BenchLimits;
  }
  return limits;
}

/**
 * Creates the switchboard server of the benchmarks.
 *
 * @param memory Reads the process's RSS and JS heap in use, for `GET /mem`.
 * @param options Which defences are on.
 * @returns The server; hand its `fetch` to the runtime.
 */
export function createBenchServer(
  memory: ReadMemory,
  options: BenchServerOptions = {},
): Server<BenchCtx> {
  const server: Server<BenchCtx> = new Server<BenchCtx>({
    ..._LIMITS[options.limits ?? "load"],
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
      const url = new URL(request.url);
      if (url.pathname === "/stats") return Response.json(server.stats);
      if (url.pathname !== "/mem") return new Response("Upgrade Required", { status: 426 });
      return memResponse(url, memory, server.rooms.get(ROOM)?.size ?? 0);
    },
  });
  return server;
}
