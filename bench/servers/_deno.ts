/**
 * What the Deno servers under test share: how they listen and how they read
 * memory. Behaviour: see `_behaviour.ts`.
 */

const _gc = (globalThis as { gc?: () => void }).gc;

/**
 * Reads the process's memory, after a forced GC (with
 * `--v8-flags=--expose-gc`) if `gc`.
 *
 * @param gc Whether to force a GC first.
 * @returns The RSS and the JS heap in use, in bytes.
 */
export function memory(gc: boolean): { rss: number; heapUsed: number } {
  if (gc) _gc?.();
  return Deno.memoryUsage();
}

/**
 * Serves `handler` on 127.0.0.1 on `port` (a free one by default), prints
 * `{"port":N}` as the first line, and exits on SIGTERM.
 *
 * @param handler The request handler.
 * @param port The port; 0 for a free one.
 */
export function serve(handler: Deno.ServeHandler, port = 0): void {
  Deno.serve({
    port,
    hostname: "127.0.0.1",
    onListen({ port }) {
      console.log(JSON.stringify({ port }));
    },
  }, handler);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
