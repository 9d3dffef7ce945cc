/**
 * switchboard on Deno: `Server` from `mod.ts` with `server.publish`, the
 * same behaviour as `raw_deno.ts` (see `_behaviour.ts`). Prints
 * `{"port":N}` first; exits on SIGTERM. `--limits=default` or
 * `--limits=messages` turns defences on (see `BenchLimits`); `--port=N`
 * listens on port N instead of a free one; `--arrivals` answers `GET
 * /arrivals` (see `serverArgs`).
 *
 * `deno run --allow-net --v8-flags=--expose-gc bench/servers/switchboard_deno.ts`
 */
import { memory, serve } from "./_deno.ts";
import { createBenchServer, serverArgs } from "./_switchboard.ts";

const { port, ...options } = serverArgs(Deno.args);
serve(createBenchServer(memory, options).fetch, port);
