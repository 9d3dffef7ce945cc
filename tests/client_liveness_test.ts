/**
 * Issue 12, on real loopback sockets: a TCP proxy between the client and
 * the server goes silent (no FIN, no RST). The client notices within its
 * heartbeat deadline (the server's `heartbeat` + `heartbeatGrace`),
 * reconnects through the same proxy and resumes its room; the server frees
 * the old session by its idle timeout (cause `"timeout"`). Once with the
 * server in this process on Deno, once in a Bun child through the adapter.
 */
import assert from "node:assert/strict";
import { connect, type WebSocketConstructor } from "../client/mod.ts";
import { bunBinary } from "./_bun_binary.ts";
import { spawnChild, timeout } from "./_child.ts";
import { collect, nextEvent } from "./_client_wait.ts";
import { silentProxy } from "./_silent_proxy.ts";
import { livenessApp, type LivenessEvent, ticks } from "./fixtures/liveness_app.ts";

const BUN_FIXTURE = new URL("./fixtures/liveness_bun.ts", import.meta.url).pathname;

/** The server's heartbeat and the client's grace, in ms; the server's idle timeout, in s. */
const HEARTBEAT = 250;
const GRACE = 500;
const IDLE_TIMEOUT = 1;
/** What a loaded machine may add to a timer, in ms: a bound, not a speed. */
const MARGIN = 500;
/** How long the server may take to free the silent session, after the silence. */
const FREE_BOUND = { deno: IDLE_TIMEOUT * 1000, bun: IDLE_TIMEOUT * 1500 };

/** A server with the liveness app, driven over plain HTTP. */
interface Remote {
  readonly port: number;
  stop(): Promise<void>;
}

async function startRemote(runtime: "deno" | "bun"): Promise<Remote> {
  if (runtime === "bun") {
    const child = spawnChild([await bunBinary(), BUN_FIXTURE, `${HEARTBEAT}`, `${IDLE_TIMEOUT}`]);
    const first = await timeout(child.first, 20_000, null);
    if (first === null) {
      await child.stop();
      throw new Error("The Bun server did not start");
    }
    return { port: JSON.parse(first).port, stop: async () => void await child.stop() };
  }
  const { server } = livenessApp({ heartbeat: HEARTBEAT, idleTimeout: IDLE_TIMEOUT });
  const http = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, server.fetch);
  return {
    port: http.addr.port,
    async stop() {
      await server.shutdown();
      await http.shutdown();
    },
  };
}

/** The server's events, read by long polls: each wait is bounded on both sides. */
class ServerLog {
  readonly events: LivenessEvent[] = [];
  constructor(readonly base: string) {}

  /** The first event `accept` takes, or `undefined` after `ms`. */
  async find(
    accept: (e: LivenessEvent) => boolean,
    ms: number,
  ): Promise<LivenessEvent | undefined> {
    const deadline = performance.now() + ms;
    for (;;) {
      const found = this.events.find(accept);
      const left = deadline - performance.now();
      if (found !== undefined || left <= 0) return found;
      const response = await fetch(
        `${this.base}/events?after=${this.events.length}&wait=${Math.ceil(left)}`,
      );
      const more: LivenessEvent[] = await response.json();
      for (const e of more) this.events.push({ ...e, at: performance.now() });
    }
  }

  async get(path: string, method = "GET"): Promise<unknown> {
    const response = await fetch(`${this.base}${path}`, { method });
    return response.status === 204 ? await response.body?.cancel() : await response.json();
  }
}

for (const runtime of ["deno", "bun"] as const) {
  Deno.test(`a silent proxy: the client notices in heartbeat + grace and resumes; the ${runtime} server frees the session`, async () => {
    const remote = await startRemote(runtime);
    const log = new ServerLog(`http://127.0.0.1:${remote.port}`);
    const proxy = silentProxy({ port: remote.port });
    // Every socket the client opens, so that the test can wait for each to end.
    const closes: Promise<void>[] = [];
    const Tracked = class extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        closes.push(new Promise((resolve) => this.addEventListener("close", () => resolve())));
      }
    } satisfies WebSocketConstructor;
    const client = connect(`ws://127.0.0.1:${proxy.port}/`, {
      contract: ticks,
      heartbeatGrace: GRACE,
      reconnect: { base: 50, cap: 200 },
      WebSocket: Tracked,
    });
    let silencedAt = 0;
    const { got, until } = collect<number>((fn) => client.on("tick", fn), (n) => {
      // The proxy goes silent right after the client's last frame: the
      // client's deadline then runs from the silence.
      if (n === 2) {
        proxy.silence();
        silencedAt = performance.now();
      }
    });
    try {
      const opened = await nextEvent(client.events, "open", 10_000);
      assert.ok(opened, "the client opened");
      assert.equal(opened.heartbeat, HEARTBEAT);
      const first = await log.find((e) => e.type === "open", 10_000);
      assert.equal(first?.sessions, 1);
      const joined = await client.join("r");
      assert.equal(joined.joined, true);

      const reconnecting = nextEvent(client.events, "reconnecting", 10_000);
      const reopened = nextEvent(client.events, "open", 15_000, (e) => e.reconnected);
      const recovery = nextEvent(client.events, "recovery", 15_000);
      await log.get("/publish?room=r&from=0&to=3", "POST");
      await until(3);
      assert.ok(silencedAt > 0, "silenced after tick 2");
      // Published while silent: they reach the old session and the proxy drops them.
      await log.get("/publish?room=r&from=3&to=6", "POST");

      const lost = await reconnecting;
      const noticedAfter = performance.now() - silencedAt;
      assert.ok(lost, "the client noticed");
      assert.equal(lost.reason, "Heartbeat timeout");
      assert.ok(
        noticedAfter >= HEARTBEAT && noticedAfter <= HEARTBEAT + GRACE + MARGIN,
        `noticed ${noticedAfter.toFixed(0)} ms after the silence; bound ${HEARTBEAT}..${
          HEARTBEAT + GRACE + MARGIN
        }`,
      );
      const again = await reopened;
      assert.ok(again, "the client opened again");
      assert.equal(client.state, "open");
      assert.equal(proxy.accepted, 2, "through the proxy again");
      const resumed = await recovery;
      assert.deepEqual(
        { room: resumed?.room, recovered: resumed?.recovered },
        { room: "r", recovered: true },
      );
      await until(6);
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5], "what the silence swallowed, replayed once");

      const freed = await log.find((e) => e.type === "close" && e.id === first!.id, 20_000);
      assert.ok(freed, "the server freed the silent session");
      const freedAfter = freed.at - silencedAt;
      assert.equal(freed.kind, "timeout");
      assert.equal(freed.code, 1001);
      assert.ok(
        freedAfter <= FREE_BOUND[runtime] + MARGIN * 2,
        `freed ${freedAfter.toFixed(0)} ms after the silence; bound ${FREE_BOUND[runtime]} + ${
          MARGIN * 2
        }`,
      );
      assert.deepEqual(await log.get("/sessions"), [again.session], "only the new session is left");
      assert.equal(log.events.filter((e) => e.type === "close").length, 1);
      assert.equal(client.stats.opened, 2);
      assert.equal(client.stats.duplicates, 0);
      console.log(
        `${runtime}: noticed after ${noticedAfter.toFixed(0)} ms (heartbeat + grace ${
          HEARTBEAT + GRACE
        }), freed after ${freedAfter.toFixed(0)} ms (${freed.kind} ${freed.code})`,
      );
    } finally {
      await client.close();
      await proxy.close();
      await timeout(Promise.all(closes), 5000, undefined);
      await remote.stop();
    }
  });
}
