/**
 * Bun's own pub/sub: `Bun.serve` with `ws.subscribe` and `server.publish`
 * (uWebSockets batches each subscriber's frames into one write); a relay is
 * `ws.publish`, which leaves out the sender, of the envelope parsed and
 * serialized again as switchboard does.
 * Behaviour: see `_behaviour.ts`. Prints `{"port":N}` first; exits on SIGTERM.
 *
 * `bun bench/servers/native_bun.ts`
 */
import { IDLE_TIMEOUT, ROOM, textHandler } from "./_behaviour.ts";
import { benchFetch, type BenchWs, serve } from "./_bun.ts";

let members = 0;

const onText = textHandler<BenchWs>(
  (text) => http.publish(ROOM, text),
  (sender, text) => sender.publish(ROOM, text),
);

const http = serve({
  fetch: benchFetch(() => members),
  websocket: {
    idleTimeout: IDLE_TIMEOUT,
    open(ws: BenchWs) {
      if (ws.data.publisher) return;
      ws.subscribe(ROOM);
      members++;
    },
    close(ws: BenchWs) {
      if (!ws.data.publisher) members--;
    },
    message(ws: BenchWs, message: string | Uint8Array) {
      if (typeof message === "string") onText(ws, message);
    },
  },
});
