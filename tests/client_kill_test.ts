/**
 * The acceptance runs of issue 12 for a server that goes away, on Deno and
 * on Bun, with the client over loopback (tests/fixtures/serve_relay.ts is
 * the server process):
 *
 * - **Killed**: a publisher sends 1..10,000 at a steady rate to a room that
 *   two listeners joined; the server process is killed (`SIGKILL`) part-way
 *   and started again on the same port, with a new, empty history. Each
 *   listener gets what it gets strictly in order and once, and an explicit
 *   `recovered: false`; every message it misses was lost with the killed
 *   process (between the last it got before and the first after) or dropped
 *   by the publisher's offline queue (counted).
 * - **Restarted in-process**: the server process publishes 1..10,000 itself
 *   and, part-way, shuts its server down and starts a new one sharing the
 *   history; each listener gets `recovered: true` and the full sequence.
 */
import assert from "node:assert/strict";
import { bunBinary } from "./_bun_binary.ts";
import { type Child, spawnChild, timeout } from "./_child.ts";
import {
  connectRelay,
  listen,
  type Listener,
  range,
  type RelayClient,
  Signal,
} from "./_relay_clients.ts";
import { pace } from "./fixtures/relay_app.ts";

const SERVE = new URL("./fixtures/serve_relay.ts", import.meta.url).pathname;
/** Messages a run sends. */
const COUNT = 10_000;
/** Messages a second. */
const RATE = 4_000;
/** The server goes away once a listener got this one. */
const AT = 3_000;

/** Starts the relay on `runtime`, on `port` (0: any); resolves once it listens. */
async function start(runtime: "deno" | "bun", port: number, children: Child[]): Promise<number> {
  const command = runtime === "deno"
    ? [Deno.execPath(), "run", "--allow-net", SERVE, String(port)]
    : [await bunBinary(), SERVE, String(port)];
  const child = spawnChild(command);
  children.push(child);
  const first = await timeout(child.first, 15_000, null);
  assert.ok(first, `the ${runtime} relay did not start`);
  return JSON.parse(first).port;
}

/**
 * Starts the relay on `runtime` with two listeners in its room; the child
 * and the clients are recorded for the test's cleanup.
 */
async function startListened(
  runtime: "deno" | "bun",
  children: Child[],
  clients: RelayClient[],
  signal: Signal,
): Promise<{ port: number; url: string; listeners: Listener[] }> {
  const port = await start(runtime, 0, children);
  const url = `ws://127.0.0.1:${port}/`;
  const listeners = [await listen(url, signal), await listen(url, signal)];
  clients.push(...listeners.map((l) => l.client));
  return { port, url, listeners };
}

/** Stops every child, even after a failure. */
async function stopAll(children: Child[]): Promise<void> {
  await Promise.all(children.map((child) => child.stop(2_000)));
}

/**
 * What one listener of a killed run shows, for the assertions and the log.
 * `first` is the first `pub` the new process got: the publisher sent every
 * one before it to the killed process (or to its dead socket), and every one
 * from it on, but those it dropped, to the new process, in order.
 */
function report(listener: Listener, dropped: ReadonlySet<number>, first: number) {
  const { got, seqs, recoveries } = listener;
  const at = recoveries[0]?.at ?? got.length;
  const lastBefore = got[at - 1] ?? 0;
  const firstAfter = got[at] ?? COUNT + 1;
  const have = new Set(got);
  const missing = range(1, COUNT).filter((n) => !have.has(n));
  const relayedAgain = range(first, COUNT).filter((n) => !dropped.has(n));
  return {
    received: got.length,
    lastBefore,
    firstAfter,
    gap: firstAfter - lastBefore - 1,
    /** Sent to the killed process after the last this listener got from it. */
    lostWithProcess: Math.max(0, first - lastBefore - 1),
    /** Relayed by the new process before this listener was back in the room. */
    beforeRejoin: relayedAgain.filter((n) => n < firstAfter).length,
    missing: missing.length,
    missingDropped: missing.filter((n) => dropped.has(n)).length,
    unaccounted: missing.filter((n) => !dropped.has(n) && !(n > lastBefore && n < firstAfter)),
    /** The room's position in the new epoch at the re-join, and the seq of the first after. */
    rejoinSeq: recoveries[0]?.seq,
    firstSeqAfter: seqs[at],
    recoveries: recoveries.map(({ recovered, reason, ms }) => ({ recovered, reason, ms })),
    duplicates: listener.client.stats.duplicates,
    gaps: listener.client.stats.gaps,
  };
}

for (const runtime of ["deno", "bun"] as const) {
  Deno.test(`${runtime}: a killed server process: each listener gets every message once, in order, or an explicit recovered: false that accounts for every one missing`, async () => {
    const children: Child[] = [];
    const clients: RelayClient[] = [];
    const signal = new Signal();
    let killedAt = 0;
    let pacing: Promise<number> | undefined;
    try {
      const { port, url, listeners } = await startListened(runtime, children, clients, signal);
      const publisher = connectRelay(url);
      clients.push(publisher);
      const reopened: number[] = [];
      publisher.events.on("open", ({ reconnected }) => {
        if (reconnected) reopened.push(performance.now() - killedAt);
        signal.notify();
      });
      assert.ok(await signal.until(() => publisher.state === "open", 10_000), "publisher open");

      const dropped = new Set<number>();
      // Bounded by itself: about COUNT / RATE seconds.
      pacing = pace(COUNT, RATE, (n) => {
        if (publisher.send("pub", n) === "dropped") dropped.add(n);
      });
      // The kill: once a listener got message AT; then the same port again.
      const [a] = listeners;
      assert.ok(await signal.until(() => a.got.length >= AT, 10_000), `listener got ${AT}`);
      killedAt = performance.now();
      children[0].kill("SIGKILL");
      await children[0].wait(2_000);
      await start(runtime, port, children);
      const restartMs = performance.now() - killedAt;

      const paced = await pacing;
      const back = await signal.until(
        () => listeners.every((l) => l.recoveries.length > 0) && publisher.state === "open",
        15_000,
      );
      assert.ok(back, "every client came back");
      // Every pub before the fence has reached the room once `end` arrives.
      const fence = await publisher.request("fence", null);
      const ended = await signal.until(() => listeners.every((l) => l.ended), 10_000);
      assert.ok(ended, "every listener got end");

      const stats = publisher.stats;
      const figures = listeners.map((l) => report(l, dropped, fence.first));
      const message = JSON.stringify({ runtime, dropped: stats.dropped, figures, fence });
      assert.equal(stats.dropped, dropped.size, message);
      for (const [i, listener] of listeners.entries()) {
        const { got, recoveries } = listener;
        const figure = figures[i];
        for (let j = 1; j < got.length; j++) {
          assert.ok(
            got[j] > got[j - 1],
            `listener ${i}: ${got[j]} after ${got[j - 1]}: ${message}`,
          );
        }
        assert.equal(figure.duplicates, 0, message);
        // A new process has a new history, so a new epoch: the client must say so.
        assert.deepEqual(
          recoveries.map(({ recovered, reason }) => ({ recovered, reason })),
          [{ recovered: false, reason: "epoch" }],
          message,
        );
        // Before the switch: 1..lastBefore, all of it.
        assert.deepEqual(got.slice(0, recoveries[0].at), range(1, figure.lastBefore), message);
        // At the switch: only what the killed process took with it, or the new one relayed
        // before the re-join; after it, every message the new process relayed but the dropped.
        assert.deepEqual(figure.unaccounted, [], message);
        assert.ok(figure.firstAfter > COUNT || figure.firstAfter >= fence.first, message);
        // The client delivers from the room's position at the re-join on, skipping nothing.
        if (figure.firstAfter <= COUNT) {
          assert.equal(figure.firstSeqAfter, figure.rejoinSeq! + 1, message);
        }
        assert.ok(figure.beforeRejoin >= figure.rejoinSeq!, message);
      }
      assert.ok(figures[0].lastBefore >= AT, message);
      console.log(JSON.stringify({
        runtime,
        pacedMs: Math.round(paced),
        restartMs: Math.round(restartMs),
        publisherBackMs: reopened.map(Math.round),
        dropped: stats.dropped,
        relayedByNewProcess: fence.relayed,
        firstRelayedByNewProcess: fence.first,
        listeners: figures.map(({ unaccounted: _, recoveries, ...rest }) => ({
          ...rest,
          recoveredAfterMs: Math.round(recoveries[0].ms),
        })),
      }));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await pacing; // sends "closed" to the end: about COUNT / RATE seconds at most
      await stopAll(children);
    }
  });

  Deno.test(`${runtime}: an in-process restart that keeps the history: each listener gets recovered: true and every message once, in order`, async () => {
    const children: Child[] = [];
    const clients: RelayClient[] = [];
    const signal = new Signal();
    try {
      const { listeners } = await startListened(runtime, children, clients, signal);
      await listeners[0].client.request("run", { count: COUNT, rate: RATE, restartAt: AT });
      const ended = await signal.until(() => listeners.every((l) => l.ended), 20_000);
      const figures = listeners.map(({ got, recoveries, client }) => ({
        received: got.length,
        recoveries: recoveries.map(({ recovered, reason, at, ms }) => ({
          recovered,
          reason,
          at,
          ms: Math.round(ms),
        })),
        duplicates: client.stats.duplicates,
        gaps: client.stats.gaps,
      }));
      const message = JSON.stringify({ runtime, figures });
      assert.ok(ended, `every listener got end: ${message}`);
      const all = range(1, COUNT);
      for (const { got, recoveries, client } of listeners) {
        assert.deepEqual(
          recoveries.map(({ recovered }) => recovered),
          [true],
          message,
        );
        assert.equal(got.length, COUNT, message);
        assert.deepEqual(got, all, message);
        assert.equal(client.stats.duplicates, 0, message);
        assert.equal(client.stats.gaps, 0, message);
      }
      console.log(JSON.stringify({ runtime, inProcess: figures }));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await stopAll(children);
    }
  });
}
