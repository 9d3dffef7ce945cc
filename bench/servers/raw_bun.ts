/**
 * The Bun baseline: `Bun.serve` with a hand-written JS loop over `ws.send`
 * (a `Set`, `JSON.stringify` once per publish, `send` to each; a relay
 * skips the sender).
 * Behaviour: see `_behaviour.ts`. Prints `{"port":N}` first; exits on SIGTERM.
 *
 * `bun bench/servers/raw_bun.ts`
 */
import { IDLE_TIMEOUT, textHandler } from "./_behaviour.ts";
import { benchFetch, type BenchWs, serve } from "./_bun.ts";

const room = new Set<BenchWs>();

const onText = textHandler<BenchWs>((text) => {
  for (const socket of room) socket.send(text);
}, (sender, text) => {
  for (const socket of room) if (socket !== sender) socket.send(text);
});

serve({
  fetch: benchFetch(() => room.size),
  websocket: {
    idleTimeout: IDLE_TIMEOUT,
    open(ws: BenchWs) {
      if (!ws.data.publisher) room.add(ws);
    },
    close(ws: BenchWs) {
      room.delete(ws);
    },
    message(ws: BenchWs, message: string | Uint8Array) {
      if (typeof message === "string") onText(ws, message);
    },
  },
});
