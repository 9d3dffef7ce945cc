/**
 * switchboard on Bun: `Server` from `mod.ts` served through `bunAdapter`,
 * the same behaviour as `raw_bun.ts` and `native_bun.ts` (see
 * `_behaviour.ts`). Prints `{"port":N}` first; exits on SIGTERM.
 * `--limits=default` or `--limits=messages` turns defences on (see
 * `BenchLimits`); `--port=N` listens on port N instead of a free one;
 * `--arrivals` answers `GET /arrivals` (see `serverArgs`).
 *
 * `bun bench/servers/switchboard_bun.ts`
 */
import { bunAdapter } from "../../src/adapters/bun.ts";
import { argv, memory, serve } from "./_bun.ts";
import { createBenchServer, serverArgs } from "./_switchboard.ts";

const { port, ...options } = serverArgs(argv());
serve({ ...bunAdapter(createBenchServer(memory, options)), port });
