/**
 * {@linkcode serve}: `Deno.serve` for a switchboard `Server` that outlives the descriptor limit.
 * @module
 */
import type { ShutdownOptions } from "./options.ts";
import type { Server } from "./server.ts";

/** The waits before listening again, in milliseconds: the first, doubled up to the last. */
const _FIRST_DELAY = 100, _LAST_DELAY = 2000;
/** Descriptors kept spare under the limit: an eighth of it, and at least this many. */
const _MIN_SPARE = 64;
const _LIMITS = "/proc/self/limits";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** The port; 0 picks a free one, kept when listening again. @default {8000} */
  port?: number;
  /** The address to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** Aborting it shuts down, as {@linkcode Serving.shutdown} does. */
  signal?: AbortSignal;
  /**
   * Called each time the listener is bound, at the start and after each
   * recovery; by default it logs `Listening on http://…/`.
   * @param addr The address listened on.
   */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Called with every error of the serving layer: a failed accept loop or
   * bind (it listens again after a wait), a request handler that threw
   * (answered with 500), and once, the cap taken from the limit.
   * @default {console.error}
   * @param error The error.
   */
  onError?: (error: unknown) => void;
}

/** What {@linkcode serve} returns: like Deno's `HttpServer`, and it outlives its accept loop. */
export interface Serving {
  /** The address listened on; the port stays the same when listening again. */
  readonly addr: Deno.NetAddr;
  /** Resolves once shut down; never rejects. */
  readonly finished: Promise<void>;
  /** How many times the listener was bound again after its accept loop failed. */
  readonly restarts: number;
  /**
   * Closes every session (`server.shutdown(options)`), then stops listening
   * and waits for requests under way. Calling it again returns the same promise.
   *
   * @param options The close code, reason and how long to wait for sessions.
   * @returns A promise that resolves once all is closed.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/**
 * Serves `server` with `Deno.serve(…, server.fetch)`. When the accept loop
 * fails (the process is out of file descriptors), it reports the error to
 * `onError`, waits (100 ms, doubling up to 2 s) and listens again on the
 * same port, until shut down. Open sessions stay open meanwhile.
 *
 * Where it can read the descriptor limit (`--allow-all` only), it lowers
 * `maxSessions` to the limit less an eighth (at least 64), and says so once
 * to `onError` if that binds: upgrades past it get 503 `server-full` before
 * the process runs out. Elsewhere, size `maxSessions` against `ulimit -Hn`.
 *
 * @param server The switchboard server.
 * @param options Where to listen, when to stop, and where errors go.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} If the port is taken at the start (later, it retries).
 *
 * @example Serve, and stop on a signal
 * ```ts
 * import { Server } from "@switchboard/ws";
 * import { serve } from "@switchboard/ws/deno";
 *
 * const controller = new AbortController();
 * const server = new Server({ onConnect: (session) => session.rooms.join("lobby") });
 * const http = serve(server, { port: 0, hostname: "127.0.0.1", signal: controller.signal });
 * controller.abort(); // or: await http.shutdown()
 * await http.finished;
 * ```
 */
export function serve(
  server: Pick<Server, "fetch" | "shutdown" | "lowerMaxSessions">,
  options: ServeOptions = {},
): Serving {
  const onError = options.onError ?? console.error;
  const limit = _descriptorLimit();
  if (limit !== undefined) {
    const cap = Math.max(1, limit - Math.max(_MIN_SPARE, Math.ceil(limit / 8)));
    const at = `at most ${cap} sessions (beyond, 503), under the descriptor limit of ${limit}`;
    const fix = `raise "ulimit -Hn", or set maxSessions to ${cap} or less to silence this`;
    if (server.lowerMaxSessions(cap) === cap) onError(new Error(`serve(): ${at}; ${fix}`));
  }
  return new _Serving(server, options, onError);
}

type _Served = Pick<Server, "fetch" | "shutdown">;

class _Serving implements Serving {
  readonly #server: _Served;
  readonly #options: ServeOptions;
  readonly #onError: (error: unknown) => void;
  readonly #abort = (): void => void this.shutdown();
  #http: Deno.HttpServer<Deno.NetAddr>;
  #stopping: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  restarts = 0;
  readonly finished: Promise<void>;

  constructor(server: _Served, options: ServeOptions, onError: (error: unknown) => void) {
    this.#server = server;
    this.#options = options;
    this.#onError = onError;
    this.#http = this.#listen(options.port ?? 8000);
    this.finished = this.#run();
    options.signal?.addEventListener("abort", this.#abort, { once: true });
    if (options.signal?.aborted) this.#abort();
  }

  get addr(): Deno.NetAddr {
    return this.#http.addr;
  }

  shutdown(options?: ShutdownOptions): Promise<void> {
    return this.#stopping ??= this.#stop(options);
  }

  async #stop(options: ShutdownOptions | undefined): Promise<void> {
    this.#options.signal?.removeEventListener("abort", this.#abort);
    this.#wake?.();
    await this.#server.shutdown(options);
    await this.#http.shutdown().catch(this.#onError);
    await this.finished;
  }

  /** Waits on each listener in turn; binds a new one when it fails, after a growing wait. */
  async #run(): Promise<void> {
    let delay = _FIRST_DELAY;
    while (this.#stopping === undefined) {
      const since = Date.now();
      let failure: unknown = new Error("The listener stopped without a shutdown");
      await this.#http.finished.catch((error) => failure = error);
      if (this.#stopping !== undefined) return;
      if (Date.now() - since > _LAST_DELAY) delay = _FIRST_DELAY; // it served a while
      const { hostname, port } = this.#http.addr;
      for (;;) {
        const message = `Listener on ${hostname}:${port} failed; listening again in ${delay} ms`;
        this.#onError(new Error(message, { cause: failure }));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => resolve(clearTimeout(timer)); // a shutdown ends the wait
        });
        delay = Math.min(delay * 2, _LAST_DELAY);
        if (this.#stopping !== undefined) return;
        try {
          this.#http = this.#listen(port);
          this.restarts++;
          break;
        } catch (error) {
          failure = error; // out of descriptors still, or the port was taken meanwhile
        }
      }
    }
  }

  #listen(port: number): Deno.HttpServer<Deno.NetAddr> {
    const { hostname = "0.0.0.0", onListen } = this.#options;
    return Deno.serve({
      port,
      hostname,
      onListen: onListen ??
        ((addr) => console.log(`Listening on http://${addr.hostname}:${addr.port}/`)),
      onError: (error) => {
        this.#onError(error);
        return new Response("Internal Server Error", { status: 500 });
      },
    }, this.#server.fetch);
  }
}

/**
 * The limit on open descriptors, if Deno lets it be read without a prompt: `/proc/self/limits`
 * needs `--allow-all` (`--allow-read` gets `NotCapable`). Deno raises the soft limit to the hard.
 */
function _descriptorLimit(): number | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path: _LIMITS }).state !== "granted") return;
    const line = Deno.readTextFileSync(_LIMITS).split("\n").find((l) => l.startsWith("Max open f"));
    const soft = Number(line?.trim().split(/\s+/)[3]); // "unlimited" is NaN
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
