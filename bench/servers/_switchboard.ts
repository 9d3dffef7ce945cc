/**
 * The switchboard server under test, the same on both runtimes: only how
 * it is served and how memory is read differ (`switchboard_deno.ts`,
 * `switchboard_bun.ts`). Behaviour: see `_behaviour.ts`; it also answers
 * `GET /stats` with `server.stats`, and with `--arrivals`, `GET /arrivals`
 * with when each session opened.
 */
import { HttpError, Server, type ServerOptions } from "../../mod.ts";
import {
  fanoutRequest,
  IDLE_TIMEOUT,
  memResponse,
  type ReadMemory,
  ROOM,
  tickPad,
  TOKEN,
} from "./_behaviour.ts";

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
 *   and the idle timeout of every server under load (`IDLE_TIMEOUT`);
 * - `"default"`: every default, the byte budget of `rateLimit` included;
 * - `"messages"`: the default message rate (100/s, burst 200) with no byte
 *   budget to speak of (`bytes: 1e12`), as `rateLimit` was before it had one.
 */
export type BenchLimits = "load" | "default" | "messages";

const _LIMITS: Record<
  BenchLimits,
  Pick<
    ServerOptions<BenchCtx, object, object>,
    "maxSessionsPerClient" | "rateLimit" | "idleTimeout"
  >
> = {
  load: { maxSessionsPerClient: Infinity, rateLimit: false, idleTimeout: IDLE_TIMEOUT },
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
  /**
   * Record when each session opened (epoch ms, `performance.timeOrigin +
   * performance.now()`), for `GET /arrivals`.
   *
   * @default {false}
   */
  arrivals?: boolean;
}

/** What a server script's arguments say. */
export interface BenchServerArgs extends BenchServerOptions {
  /** The port to listen on; 0 for a free one. */
  port: number;
}

/**
 * Reads a server script's arguments: `--limits=<load|default|messages>`,
 * `--port=N` (listen on N, not on a free port: the restart of
 * `bench/herd.ts` listens again on the same one) and `--arrivals` (record
 * when each session opened, for `GET /arrivals`).
 *
 * @param args The arguments after the script's path.
 * @returns What they say; `"load"`, port 0 and no arrivals by default.
 * @throws {RangeError} If an argument or a value is unknown.
 */
export function serverArgs(args: readonly string[]): BenchServerArgs {
  const parsed: BenchServerArgs = { limits: "load", port: 0, arrivals: false };
  for (const arg of args) {
    const [name, value = ""] = arg.split("=", 2);
    if (name === "--limits" && Object.hasOwn(_LIMITS, value)) {
      parsed.limits = value as BenchLimits;
    } else if (name === "--port" && /^\d+$/.test(value) && Number(value) <= 65535) {
      parsed.port = Number(value);
    } else if (arg === "--arrivals") {
      parsed.arrivals = true;
    } else {
      throw new RangeError(
        `Unknown argument "${arg}": expected --limits=load|default|messages, --port=N, --arrivals`,
      );
    }
  }
  return parsed;
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
  const arrivals: number[] | undefined = options.arrivals ? [] : undefined;
  const server: Server<BenchCtx> = new Server<BenchCtx>({
    ..._LIMITS[options.limits ?? "load"],
    context(request) {
      const params = new URL(request.url).searchParams;
      if (params.get("token") !== TOKEN) throw new HttpError(401, "Unauthorized");
      return { publisher: params.has("pub") };
    },
    onConnect(session) {
      arrivals?.push(performance.timeOrigin + performance.now());
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
      if (url.pathname === "/arrivals" && arrivals) return Response.json(arrivals);
      if (url.pathname !== "/mem") return new Response("Upgrade Required", { status: 426 });
      return memResponse(url, memory, server.rooms.get(ROOM)?.size ?? 0);
    },
  });
  return server;
}
