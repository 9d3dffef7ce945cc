/**
 * What the Bun servers under test share: the little of Bun's globals they
 * use (typed here, so that no `bun-types` is needed), their arguments, how
 * they listen and read memory, and the HTTP side of the two that use `Bun.serve` directly.
 * Behaviour: see `_behaviour.ts`.
 */
import { memResponse, TOKEN } from "./_behaviour.ts";

/** A Bun `ServerWebSocket`, with the data the upgrade gave it. */
export interface BenchWs {
  readonly data: { publisher: boolean };
  send(data: string): number;
  subscribe(topic: string): void;
  /** To every subscriber of `topic` but this socket. */
  publish(topic: string, data: string): number;
}

/** What `Bun.serve` returns, as far as the servers use it. */
export interface BunServer {
  readonly port: number;
  publish(topic: string, data: string): number;
}

type _Fetch = (
  request: Request,
  server: { upgrade(request: Request, options: { data: unknown }): boolean },
) => Response | undefined;

declare const Bun: {
  serve(options: { port: number; hostname: string } & Record<string, unknown>): BunServer;
  gc(force: boolean): void;
};
declare const process: {
  readonly argv: readonly string[];
  on(signal: string, fn: () => void): void;
  exit(code: number): never;
  memoryUsage(): { rss: number; heapUsed: number };
};

/**
 * The script's arguments, after the runtime's path and the script's.
 *
 * @returns The arguments.
 */
export function argv(): readonly string[] {
  return process.argv.slice(2);
}

/**
 * Reads the process's memory, after a forced full GC if `gc`.
 *
 * @param gc Whether to force a full GC first.
 * @returns The RSS and the JS heap in use, in bytes.
 */
export function memory(gc: boolean): { rss: number; heapUsed: number } {
  if (gc) Bun.gc(true);
  return process.memoryUsage();
}

/**
 * `Bun.serve(options)` on 127.0.0.1 on a free port (or `options.port`);
 * prints `{"port":N}` as the first line, and exits on SIGTERM.
 *
 * @param options `fetch` and `websocket`, and `port` if not a free one.
 * @returns Bun's server.
 */
export function serve(options: object): BunServer {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", ...options });
  console.log(JSON.stringify({ port: server.port }));
  process.on("SIGTERM", () => process.exit(0));
  return server;
}

/**
 * The HTTP side of the servers that use `Bun.serve` directly: `GET /mem`,
 * 426 for anything that is not an upgrade, 401 without the token, else the
 * upgrade with `{ publisher }` as the socket's data.
 *
 * @param members How many sessions are in the room, for `GET /mem`.
 * @returns The `fetch` handler.
 */
export function benchFetch(members: () => number): _Fetch {
  return (request, server) => {
    const url = new URL(request.url);
    if (url.pathname === "/mem") return memResponse(url, memory, members());
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
  };
}
