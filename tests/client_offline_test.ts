/**
 * Issue 12, against real sockets: the offline queue's bounds (messages and
 * bytes) hold while the server is down, every drop is counted and
 * reported, and once the server comes up on that port exactly the kept
 * messages arrive, in order. Requests time out with `RequestTimeoutError`
 * and never settle again; a request in flight when the server goes away
 * rejects once with `ConnectionLostError` (Deno: shut down in-process; Bun:
 * its process killed).
 *
 * "Down" is a port the OS gave out and that was closed again: connections
 * to it are refused until the test serves on it.
 */
import assert from "node:assert/strict";
import {
  type ClientOptions,
  connect,
  ConnectionLostError,
  type DropEvent,
  RequestDroppedError,
  RequestTimeoutError,
} from "../client/mod.ts";
import { bunBinary } from "./_bun_binary.ts";
import { spawnChild, timeout } from "./_child.ts";
import { nextEvent } from "./_client_wait.ts";
import { offline, offlineApp } from "./fixtures/offline_app.ts";

const BUN_FIXTURE = new URL("./fixtures/offline_bun.ts", import.meta.url).pathname;

type _Options = ClientOptions<
  { say: string },
  Record<never, never>,
  {
    echo: { input: string; output: string };
    slow: { input: number; output: number };
    hang: { input: null; output: null };
  }
>;

/** A port nothing listens on (until the test serves on it). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The app served in-process on `port`; `stop()` shuts down its server, then the listener. */
function serve(port: number, options: { maxConcurrentHandlers?: number } = {}) {
  const app = offlineApp(options);
  const http = Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, app.server.fetch);
  return {
    app,
    async stop() {
      app.release();
      await app.server.shutdown();
      await http.shutdown();
    },
  };
}

/** A client of `port` that retries fast and forever. */
function client(port: number, options: _Options = {}) {
  return connect(`ws://127.0.0.1:${port}/`, {
    contract: offline,
    network: null,
    reconnect: { base: 20, cap: 100, maxFailedAttempts: Infinity },
    ...options,
  });
}

/** Counts how a promise settles: `settled` must end at 1. */
function track<T>(promise: Promise<T>) {
  const t = { settled: 0, value: undefined as T | undefined, error: undefined as unknown };
  const done = promise.then(
    (value) => void (t.settled++, t.value = value),
    (error) => void (t.settled++, t.error = error),
  );
  return Object.assign(t, { done: timeout(done, 10_000, undefined) });
}

/** `say` with data of `n` characters: `{"topic":"say","data":"…"}` is n + 25 bytes. */
const sized = (tag: string, n: number) => tag + "x".repeat(n - tag.length);

const QUEUE_CASES = [
  {
    name: "the message bound (drop-newest): the first 5 of 8 are kept",
    options: { maxQueueMessages: 5 },
    data: ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"],
    results: ["queued", "queued", "queued", "queued", "queued", "dropped", "dropped", "dropped"],
    dropped: ["m5", "m6", "m7"],
  },
  {
    name: "the message bound (drop-oldest): the last 5 of 8 are kept",
    options: { maxQueueMessages: 5, overflow: "drop-oldest" as const },
    data: ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"],
    results: ["queued", "queued", "queued", "queued", "queued", "queued", "queued", "queued"],
    dropped: ["m0", "m1", "m2"],
  },
  {
    // Each 100-character message is 125 bytes, a 10-character one 35: 3 × 125 + 35 = 410.
    name: "the byte bound (drop-newest): what fits is kept, a smaller one after a drop too",
    options: { maxQueueBytes: 420 },
    data: ["b0", "b1", "b2", "b3", "s4", "b5"].map((tag) => sized(tag, tag[0] === "s" ? 10 : 100)),
    results: ["queued", "queued", "queued", "dropped", "queued", "dropped"],
    dropped: [sized("b3", 100), sized("b5", 100)],
  },
];

Deno.test("the offline queue's bounds hold against a real server that comes up late; exactly the kept messages arrive, in order", async (t) => {
  for (const c of QUEUE_CASES) {
    await t.step(c.name, async () => {
      const port = freePort();
      const sb = client(port, c.options);
      const drops: DropEvent[] = [];
      sb.events.on("drop", (drop) => drops.push(drop));
      let served: ReturnType<typeof serve> | undefined;
      try {
        assert.ok(await nextEvent(sb.events, "reconnecting", 5000), "the server is down");
        const results = c.data.map((data) => sb.send("say", data));
        assert.deepEqual(results, c.results);
        const bytes = (data: string) => data.length + 25;
        const kept = c.data.filter((d) => !c.dropped.includes(d));
        assert.deepEqual(drops.map((d) => d.reason), c.dropped.map(() => "queue-full"));
        assert.deepEqual(drops.map((d) => d.bytes), c.dropped.map(bytes));
        assert.ok(drops.every((d) => d.topic === "say" && !d.request));
        const stats = sb.stats;
        assert.equal(stats.dropped, c.dropped.length);
        assert.equal(stats.droppedBytes, c.dropped.map(bytes).reduce((a, b) => a + b, 0));
        assert.equal(stats.queued, kept.length);
        assert.equal(stats.queuedBytes, kept.map(bytes).reduce((a, b) => a + b, 0));

        const opened = nextEvent(sb.events, "open", 10_000);
        served = serve(port);
        assert.ok(await opened, "the client connected once the server came up");
        assert.equal(sb.send("say", "fence"), "sent");
        const app = served.app;
        assert.ok(await app.until(() => app.said.includes("fence"), 10_000));
        assert.deepEqual(app.said, [...kept, "fence"]);
        assert.equal(sb.stats.queued, 0);
        assert.equal(sb.stats.dropped, c.dropped.length, "nothing more dropped");
        assert.equal(drops.length, c.dropped.length);
      } finally {
        await sb.close();
        await served?.stop();
      }
    });
  }
});

Deno.test("requests made offline time out with RequestTimeoutError (or are dropped past the bound) and never settle again, even once the server is up", async () => {
  const port = freePort();
  const sb = client(port, { maxQueueMessages: 2 });
  const drops: DropEvent[] = [];
  sb.events.on("drop", (drop) => drops.push(drop));
  let served: ReturnType<typeof serve> | undefined;
  try {
    assert.ok(await nextEvent(sb.events, "reconnecting", 5000), "the server is down");
    const early = track(sb.request("echo", "early", { timeout: 200 }));
    const patient = track(sb.request("echo", "patient", { timeout: 10_000 }));
    const over = track(sb.request("echo", "over", { timeout: 10_000 }));
    assert.equal(sb.stats.queued, 2);
    await over.done;
    assert.ok(over.error instanceof RequestDroppedError, String(over.error));
    assert.deepEqual(drops.map((d) => [d.reason, d.topic, d.request]), [
      ["queue-full", "echo", true],
    ]);
    assert.equal(sb.stats.dropped, 1);
    await early.done;
    assert.equal(early.settled, 1);
    assert.ok(early.error instanceof RequestTimeoutError, String(early.error));
    assert.equal(early.error.name, "RequestTimeoutError");
    assert.equal(early.error.sent, false, "it timed out waiting to be sent");
    assert.equal(sb.stats.timedOut, 1);
    assert.equal(sb.stats.queued, 1, "and left the queue");
    assert.equal(sb.stats.dropped, 1, "a timeout is not a drop");

    served = serve(port);
    const app = served.app;
    await patient.done;
    assert.deepEqual([patient.settled, patient.value], [1, "patient"]);
    // In flight: the reply comes late (after 400 ms) and is ignored.
    const late = track(sb.request("slow", 400, { timeout: 100 }));
    await late.done;
    assert.ok(late.error instanceof RequestTimeoutError);
    assert.equal(late.error.sent, true, "it timed out waiting for its reply");
    // One handler at a time: this answer comes after the slow one's late reply.
    assert.equal(await sb.request("echo", "after"), "after");
    assert.deepEqual(app.requests, ["echo patient", "slow 400", "echo after"]);
    assert.equal(early.settled, 1, "the offline timeout settled once");
    assert.equal(over.settled, 1, "the dropped request settled once");
    assert.equal(late.settled, 1, "the late reply settled nothing");
    assert.equal(sb.stats.timedOut, 2);
  } finally {
    await sb.close();
    await served?.stop();
  }
});

Deno.test("a request in flight when the Deno server shuts down rejects once with ConnectionLostError", async () => {
  const port = freePort();
  let served = serve(port);
  const sb = client(port);
  try {
    assert.ok(await nextEvent(sb.events, "open", 10_000));
    const hang = track(sb.request("hang", null, { timeout: 10_000 }));
    assert.ok(await served.app.until(() => served.app.requests.includes("hang"), 10_000));
    const lost = nextEvent(sb.events, "reconnecting", 10_000);
    await served.stop();
    await hang.done;
    assert.equal((await lost)?.code, 1001);
    assert.ok(hang.error instanceof ConnectionLostError, String(hang.error));
    assert.equal(hang.error.name, "ConnectionLostError");
    assert.equal(sb.stats.lost, 1);
    // Later events: the server comes back and answers another request.
    served = serve(port);
    assert.equal(await sb.request("echo", "again"), "again");
    assert.equal(hang.settled, 1);
    assert.equal(sb.stats.lost, 1);
  } finally {
    await sb.close();
    await served.stop();
  }
});

Deno.test("a request in flight when the Bun server's process is killed rejects once with ConnectionLostError", async () => {
  const child = spawnChild([await bunBinary(), BUN_FIXTURE]);
  const sb = { client: undefined as ReturnType<typeof client> | undefined };
  try {
    const first = await timeout(child.first, 20_000, null);
    assert.ok(first, "the Bun server started");
    const c = sb.client = client(JSON.parse(first).port);
    assert.ok(await nextEvent(c.events, "open", 10_000));
    const hang = track(c.request("hang", null, { timeout: 10_000 }));
    // Two handlers at once: this answer means the hang is under way on the server.
    assert.equal(await c.request("echo", "in flight"), "in flight");
    const lost = nextEvent(c.events, "reconnecting", 10_000);
    child.kill("SIGKILL");
    await hang.done;
    assert.equal((await lost)?.code, 1006);
    assert.ok(hang.error instanceof ConnectionLostError, String(hang.error));
    // A later event: the next attempt fails too (nobody listens any more).
    assert.ok(await nextEvent(c.events, "reconnecting", 10_000));
    assert.equal(hang.settled, 1);
    assert.equal(c.stats.lost, 1);
  } finally {
    await sb.client?.close();
    await child.stop();
  }
});
