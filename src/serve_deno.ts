/**
 * Serves a switchboard `Server` with `Deno.serve`, and keeps serving when
 * the process runs out of file descriptors.
 *
 * Bare `Deno.serve` exits the process when its accept loop meets `EMFILE`
 * (`Too many open files`): the rejection of its `finished` promise is
 * unhandled, and its `onError` is never called. {@linkcode serve} handles
 * it: it reports the error, waits (100 ms, doubling up to 5 s) and listens
 * again on the same port, until shut down. Open sessions stay open
 * throughout; new clients are served again once descriptors are free.
 *
 * Where it can read the descriptor limit (`/proc/self/limits`, which Deno
 * lets a program read under `--allow-all` only), it also lowers the server's
 * `maxSessions` below it, so that upgrades past that get 503 `server-full`
 * long before the process runs out. Under narrower permissions, size
 * `maxSessions` yourself against `ulimit -Hn` (see the README).
 *
 * @example Serving a chat on Deno
 * ```ts
 * import { Server } from "@switchboard/ws";
 * import { serve } from "@switchboard/ws/deno";
 *
 * const server = new Server({
 *   onConnect(session) {
 *     session.rooms.join("lobby");
 *   },
 * });
 * const http = serve(server, { port: 0, hostname: "127.0.0.1", onListen() {} });
 * // ... later: closes every session with 1001, then stops listening
 * await http.shutdown();
 * ```
 *
 * @module
 */
import type { ServeInfo, ShutdownOptions } from "./options.ts";

/** The first wait before listening again, in milliseconds; it doubles after each failure. */
const _FIRST_DELAY = 100;
/** The longest wait before listening again, in milliseconds. */
const _LAST_DELAY = 5000;
/** Descriptors kept spare under the limit: at least this many, and at least an eighth of it. */
const _MIN_SPARE = 64;
const _LIMITS = "/proc/self/limits";

/** What {@linkcode serve} needs of a server; a switchboard `Server` has all of it. */
export interface ServedServer {
  /**
   * Answers a request: `server.fetch`.
   *
   * @param request The request.
   * @param info The connection info.
   * @returns The response.
   */
  fetch(request: Request, info?: ServeInfo): Promise<Response>;
  /**
   * Closes every session: `server.shutdown()`.
   *
   * @param options The close code, reason and how long to wait.
   * @returns A promise that resolves once every session is closed.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /**
   * Lowers `maxSessions`: `server.lowerMaxSessions()`.
   *
   * @param max The new cap.
   * @returns The cap in force.
   */
  lowerMaxSessions(max: number): number;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** The port to listen on; 0 picks a free one, kept when listening again. @default {8000} */
  port?: number;
  /** The address to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** Aborting it shuts down as {@linkcode Serving.shutdown} does. */
  signal?: AbortSignal;
  /**
   * Called each time the listener is bound: at the start, and after each
   * recovery. By default it logs `Listening on http://…/`.
   *
   * @param addr The address listened on.
   */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Called with every error the serving layer meets: a failed accept loop
   * (the listener is bound again after a wait), a failed attempt to bind it
   * again, a request handler that threw (answered with 500), and once, the
   * cap taken from the descriptor limit.
   *
   * @default {console.error}
   * @param error The error.
   */
  onError?: (error: unknown) => void;
}

/** What {@linkcode serve} returns: Deno's `HttpServer`, made to outlive its accept loop. */
export interface Serving {
  /** The address listened on (the port stays when listening again). */
  readonly addr: Deno.NetAddr;
  /** Resolves once shut down; never rejects. */
  readonly finished: Promise<void>;
  /** How many times the listener was bound again after its accept loop failed. */
  readonly restarts: number;
  /**
   * Shuts down: closes every session (`server.shutdown(options)`), then
   * stops listening and waits for requests under way. Calling it again
   * returns the same promise.
   *
   * @param options The close code, reason and how long to wait for sessions.
   * @returns A promise that resolves once everything is closed.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /**
   * `await using` support: {@linkcode Serving.shutdown}.
   *
   * @returns A promise that resolves once everything is closed.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves `server` with `Deno.serve` on a port, and binds the listener
 * again whenever its accept loop fails (out of file descriptors), until
 * shut down. Where the descriptor limit is readable (`--allow-all`), it
 * lowers `maxSessions` to the limit less a spare of an eighth (at least
 * 64), and reports that once to `onError` if it binds.
 *
 * @param server The switchboard server.
 * @param options Where to listen, when to stop, and where errors go.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} If the port is taken (on the first bind
 *   only: later binds are retried).
 *
 * @example Shut down on a signal
 * ```ts
 * import { Server } from "@switchboard/ws";
 * import { serve } from "@switchboard/ws/deno";
 *
 * const controller = new AbortController();
 * const http = serve(new Server(), {
 *   port: 0,
 *   hostname: "127.0.0.1",
 *   onListen() {},
 *   signal: controller.signal,
 * });
 * controller.abort();
 * await http.finished;
 * ```
 */
export function serve(server: ServedServer, options: ServeOptions = {}): Serving {
  const onError = options.onError ?? console.error;
  const limit = _descriptorLimit();
  if (limit !== undefined) {
    const cap = Math.max(1, limit - Math.max(_MIN_SPARE, Math.ceil(limit / 8)));
    if (server.lowerMaxSessions(cap) === cap) {
      onError(
        new Error(
          `serve(): at most ${cap} sessions (beyond, 503), under the descriptor limit of ` +
            `${limit}; raise "ulimit -Hn", or set maxSessions to ${cap} or less to silence this`,
        ),
      );
    }
  }
  return new _Serving(server, options, onError);
}

class _Serving implements Serving {
  readonly #server: ServedServer;
  readonly #options: ServeOptions;
  readonly #onError: (error: unknown) => void;
  readonly #abort = (): void => void this.shutdown();
  #http: Deno.HttpServer<Deno.NetAddr>;
  #stopping: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #restarts = 0;
  readonly finished: Promise<void>;

  constructor(server: ServedServer, options: ServeOptions, onError: (error: unknown) => void) {
    this.#server = server;
    this.#options = options;
    this.#onError = onError;
    this.#http = this.#listen(options.port ?? 8000);
    this.finished = this.#run();
    options.signal?.addEventListener("abort", this.#abort, { once: true });
    if (options.signal?.aborted) void this.shutdown();
  }

  get addr(): Deno.NetAddr {
    return this.#http.addr;
  }

  get restarts(): number {
    return this.#restarts;
  }

  shutdown(options?: ShutdownOptions): Promise<void> {
    return this.#stopping ??= this.#stop(options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #stop(options: ShutdownOptions | undefined): Promise<void> {
    this.#options.signal?.removeEventListener("abort", this.#abort);
    this.#wake?.();
    try {
      await this.#server.shutdown(options);
      await this.#http.shutdown();
    } catch (error) {
      this.#onError(error);
    }
    await this.finished;
  }

  /** Waits on each listener in turn; binds a new one when it fails, after a growing wait. */
  async #run(): Promise<void> {
    let delay = _FIRST_DELAY;
    while (this.#stopping === undefined) {
      const since = Date.now();
      let failure: unknown;
      try {
        await this.#http.finished;
        failure = new Error("The listener stopped without a shutdown");
      } catch (error) {
        failure = error;
      }
      if (this.#stopping !== undefined) return;
      if (Date.now() - since > _LAST_DELAY) delay = _FIRST_DELAY; // it served a while: start over
      const { hostname, port } = this.#http.addr;
      for (;;) {
        this.#onError(
          new Error(`Listener on ${hostname}:${port} failed; listening again in ${delay} ms`, {
            cause: failure,
          }),
        );
        await this.#sleep(delay);
        delay = Math.min(delay * 2, _LAST_DELAY);
        if (this.#stopping !== undefined) return;
        try {
          this.#http = this.#listen(port);
          this.#restarts++;
          break;
        } catch (error) {
          failure = error; // EMFILE again, or the port was taken meanwhile
        }
      }
    }
  }

  #listen(port: number): Deno.HttpServer<Deno.NetAddr> {
    const { hostname = "0.0.0.0", onListen = _announce } = this.#options;
    return Deno.serve({
      port,
      hostname,
      onListen,
      onError: (error) => {
        this.#onError(error);
        return new Response("Internal Server Error", { status: 500 });
      },
    }, this.#server.fetch);
  }

  /** Resolves after `ms`, or at once when a shutdown starts. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

function _announce(addr: Deno.NetAddr): void {
  console.log(`Listening on http://${addr.hostname}:${addr.port}/`);
}

/**
 * The process's limit on open descriptors, if it can be read without a
 * permission prompt: Deno reads `/proc/self/limits` under `--allow-all`
 * only (under `--allow-read` it refuses with `NotCapable`). Deno raises its
 * soft limit to the hard one at startup, so this is `ulimit -Hn`.
 */
function _descriptorLimit(): number | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path: _LIMITS }).state !== "granted") {
      return undefined;
    }
    const line = Deno.readTextFileSync(_LIMITS).split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    const soft = Number(line?.trim().split(/\s+/)[3]); // "unlimited" is NaN
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
