/**
 * What the Deno servers under test share: how they listen and how they read
 * memory. Behaviour: see `_behaviour.ts`.
 */

const _gc = (globalThis as { gc?: () => void }).gc;

/**
 * Forces a GC (with `--v8-flags=--expose-gc`) and reads the process's memory.
 *
 * @returns The RSS and the JS heap in use, in bytes.
 */
export function memoryAfterGc(): { rss: number; heapUsed: number } {
  _gc?.();
  return Deno.memoryUsage();
}

/**
 * Serves `handler` on 127.0.0.1 on a free port, prints `{"port":N}` as the
 * first line, and exits on SIGTERM.
 *
 * @param handler The request handler.
 */
export function serve(handler: Deno.ServeHandler): void {
  Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen({ port }) {
      console.log(JSON.stringify({ port }));
    },
  }, handler);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
