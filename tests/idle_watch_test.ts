/**
 * The Bun adapter's own idle timeout (`src/adapters/_idle_watch.ts`): Bun
 * re-arms its idle timer on every frame the server sends, so a heartbeat
 * kept a silent peer open forever. On a fake clock, then through the
 * adapter on a fake Bun with the runtime's timers.
 */
import assert from "node:assert/strict";
import { IDLE_CODE, IDLE_REASON, IdleWatch, type Watched } from "../src/adapters/_idle_watch.ts";
import type { CloseCause } from "../mod.ts";
import { FakeTimers, setupBun } from "./_fake_socket.ts";
import { timeout } from "./_child.ts";

class _Peer implements Watched {
  quiet = 0;
  slot = -1;
  pings = 0;
  expired = 0;
  ping(): void {
    this.pings++;
  }
  expire(): void {
    this.expired++;
  }
}

Deno.test("IdleWatch pings a silent socket after half idleTimeout and expires it after the next half", () => {
  const clock = new FakeTimers();
  const watch = new IdleWatch(2, clock);
  const peer = new _Peer();
  watch.add(peer);
  assert.deepEqual(clock.delays(), [1000]);
  clock.tick(1000); // heard at add
  assert.equal(peer.pings, 0);
  clock.tick(1000);
  assert.equal(peer.pings, 1);
  assert.equal(peer.expired, 0);
  clock.tick(1000);
  assert.equal(peer.expired, 1);
  assert.equal(watch.size, 0);
  assert.equal(clock.pending, 0, "the timer stops with the last socket");
});

Deno.test("IdleWatch keeps a socket that answers: any inbound frame, a pong too, counts", () => {
  const clock = new FakeTimers();
  const watch = new IdleWatch(2, clock);
  const peer = new _Peer();
  watch.add(peer);
  for (let i = 0; i < 10; i++) {
    clock.tick(1000);
    if (peer.pings > i / 2) peer.quiet = 0; // the pong to each ping
  }
  assert.equal(peer.expired, 0);
  assert.ok(peer.pings >= 4);
  watch.delete(peer);
  assert.equal(clock.pending, 0);
});

Deno.test("IdleWatch expires each silent socket once and keeps the others", () => {
  const clock = new FakeTimers();
  const watch = new IdleWatch(1, clock);
  const silent = new _Peer(), chatty = new _Peer();
  watch.add(silent);
  watch.add(chatty);
  for (let i = 0; i < 8; i++) {
    chatty.quiet = 0;
    clock.tick(500);
  }
  assert.equal(silent.expired, 1);
  assert.equal(chatty.expired, 0);
  assert.equal(chatty.pings, 0);
  assert.equal(watch.size, 1);
  watch.delete(chatty);
  assert.equal(clock.pending, 0);
});

Deno.test("IdleWatch forgets a socket from the middle of its list and keeps walking the others", () => {
  const clock = new FakeTimers();
  const watch = new IdleWatch(2, clock);
  const [a, b, c] = [new _Peer(), new _Peer(), new _Peer()];
  watch.add(a);
  watch.add(b);
  watch.add(c);
  assert.equal(watch.delete(b), true);
  assert.equal(watch.delete(b), false, "a second delete finds nothing");
  assert.equal(b.slot, -1);
  assert.equal(watch.size, 2);
  clock.tick(1000);
  clock.tick(1000);
  assert.deepEqual([a.pings, b.pings, c.pings], [1, 0, 1]);
  clock.tick(1000);
  assert.deepEqual([a.expired, b.expired, c.expired], [1, 0, 1]);
  assert.equal(watch.size, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("IdleWatch does not expire a socket that a ping closed in the same walk", () => {
  const clock = new FakeTimers();
  const watch = new IdleWatch(2, clock);
  const gone = new _Peer(), other = new _Peer();
  // A ping to a socket the runtime already closed: its close handler runs inside.
  gone.ping = () => {
    gone.pings++;
    watch.delete(gone);
  };
  watch.add(gone);
  watch.add(other);
  clock.tick(1000);
  clock.tick(1000);
  assert.equal(gone.pings, 1);
  assert.equal(watch.size, 1);
  clock.tick(1000);
  assert.equal(gone.expired, 0, "forgotten, not expired");
  assert.equal(other.pings, 1, "the socket moved into its slot was walked at the next walk");
});

Deno.test("bunAdapter() closes a peer that answers nothing while the server keeps sending, cause timeout", async () => {
  const closed: CloseCause[] = [];
  let wake!: () => void;
  const done = new Promise<void>((resolve) => wake = resolve);
  const { connect } = setupBun({
    idleTimeout: 1,
    onClose: (_, cause) => {
      closed.push(cause);
      wake();
    },
  });
  const silent = await connect();
  const alive = await connect();
  // What re-armed Bun's own timer: the server sends to both every 100 ms.
  const sender = setInterval(() => {
    silent.session.send("beat", null);
    alive.session.send("beat", null);
    if (alive.ws.pings > 0) alive.ws.pong();
  }, 100);
  const started = performance.now();
  try {
    await timeout(done, 5000, undefined);
    const elapsed = performance.now() - started;
    assert.equal(closed.length, 1);
    assert.equal(closed[0].kind, "timeout");
    assert.equal(closed[0].code, IDLE_CODE);
    assert.equal(closed[0].reason, IDLE_REASON);
    assert.ok(silent.ws.pings >= 1, "pinged first");
    assert.deepEqual(silent.ws.closeCalls, [[IDLE_CODE, IDLE_REASON]]);
    assert.ok(elapsed >= 900 && elapsed < 2500, `closed after ${elapsed.toFixed(0)} ms`);
    assert.equal(alive.ws.readyState, 1, "the one that answers pings stays");
  } finally {
    clearInterval(sender);
    alive.ws.close(1000, "");
    silent.ws.close(1000, "");
  }
});
