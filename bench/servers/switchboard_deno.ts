/**
 * switchboard on Deno: `Server` from `mod.ts` with `server.publish`, the
 * same behaviour as `raw_deno.ts` (see `_behaviour.ts`). Prints
 * `{"port":N}` first; exits on SIGTERM. `--limits=default` or
 * `--limits=messages` turns defences on (see `BenchLimits`).
 *
 * `deno run --allow-net --v8-flags=--expose-gc bench/servers/switchboard_deno.ts`
 */
import { memory, serve } from "./_deno.ts";
import { createBenchServer, limitsArg } from "./_switchboard.ts";

serve(createBenchServer(memory, { limits: limitsArg(Deno.args) }).fetch);
