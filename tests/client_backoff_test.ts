import assert from "node:assert/strict";
import { Backoff } from "../client/_backoff.ts";
import type { ReconnectingEvent } from "../client/events.ts";
import { seeded, settle } from "./_fake_ws.ts";
import { rig } from "./_fake_ws_server.ts";

Deno.test("Backoff.next() is random() * min(cap, base * 2 ** n), n growing by one", () => {
  const values = [0.5, 0.25, 0.999, 0, 0.5, 0.5, 0.5, 0.5];
  let i = 0;
  const backoff = new Backoff(500, 20_000, () => values[i++]);
  const delays = values.map(() => backoff.next());
  assert.deepEqual(delays, [250, 250, 1998, 0, 4000, 8000, 10_000, 10_000]);
  assert.equal(backoff.attempt, 8);
});

Deno.test("Backoff delays are uniform on [0, bound) at every n (seeded, 20,000 samples each)", () => {
  const random = seeded(42);
  for (const n of [0, 1, 3, 5, 6, 12]) {
    const bound = Math.min(20_000, 500 * 2 ** n);
    const deciles = new Array(10).fill(0);
    let sum = 0;
    const samples = 20_000;
    for (let k = 0; k < samples; k++) {
      const backoff = new Backoff(500, 20_000, random);
      for (let j = 0; j < n; j++) backoff.next();
      const delay = backoff.next();
      assert.ok(delay >= 0 && delay < bound, `n=${n}: ${delay} out of [0, ${bound})`);
      sum += delay;
      deciles[Math.floor((delay / bound) * 10)]++;
    }
    const mean = sum / samples;
    assert.ok(Math.abs(mean - bound / 2) < bound * 0.01, `n=${n}: mean ${mean}, bound ${bound}`);
    for (const count of deciles) {
      assert.ok(Math.abs(count - samples / 10) < samples * 0.01, `n=${n}: deciles ${deciles}`);
    }
  }
});

Deno.test("Backoff.bound() never exceeds the cap, even for a huge n", () => {
  const backoff = new Backoff(500, 20_000, () => 0.5);
  assert.equal(backoff.bound(0), 500);
  assert.equal(backoff.bound(5), 16_000);
  assert.equal(backoff.bound(6), 20_000);
  assert.equal(backoff.bound(5000), 20_000);
});

Deno.test("Backoff treats a broken random (NaN, 1, negative) as 0: no stall, no NaN timer", () => {
  for (const value of [NaN, 1, -0.5, 7]) {
    assert.equal(new Backoff(500, 20_000, () => value).next(), 0);
  }
});

/** Fails every attempt (server down) and returns the delays the client scheduled. */
async function failedDelays(count: number, random: () => number): Promise<ReconnectingEvent[]> {
  const { client, server, clock, net } = rig({ random, reconnect: { maxFailedAttempts: 1000 } });
  server.down = true;
  const events: ReconnectingEvent[] = [];
  client.events.on("reconnecting", (e) => events.push(e));
  await settle();
  while (events.length < count) {
    clock.tick(events.at(-1)!.delay);
    await settle();
  }
  assert.equal(net.overlaps, 0);
  await client.close();
  return events;
}

Deno.test("the client's reconnect delays follow the formula with the defaults (base 500, cap 20 s)", async () => {
  const events = await failedDelays(10, () => 0.5);
  assert.deepEqual(
    events.map((e) => e.delay),
    [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000],
  );
  assert.deepEqual(events.map((e) => e.failed), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(events.every((e) => e.code === 1006));
});

Deno.test("the client's reconnect delays are spread over [0, bound) (seeded, 300 clients)", async () => {
  // A herd of clients whose server went down: the n-th retry of each lands
  // anywhere in [0, min(cap, base * 2^n)), not at one instant.
  const random = seeded(7);
  const byAttempt: number[][] = [[], [], [], []];
  for (let c = 0; c < 300; c++) {
    const events = await failedDelays(4, random);
    events.forEach((e, n) => byAttempt[n].push(e.delay));
  }
  byAttempt.forEach((delays, n) => {
    const bound = 500 * 2 ** n;
    assert.ok(delays.every((d) => d >= 0 && d < bound));
    const halves = delays.filter((d) => d < bound / 2).length;
    assert.ok(halves > 120 && halves < 180, `n=${n}: ${halves} of 300 below half`);
  });
});

Deno.test("backoff goes back to n = 0 only after a connection stayed up 5 s", async (t) => {
  for (const [upFor, reset] of [[4_999, false], [5_000, true]] as const) {
    await t.step(`up ${upFor} ms: ${reset ? "reset" : "no reset"}`, async () => {
      const { client, server, clock } = rig({ random: () => 0.5 });
      const delays: number[] = [];
      client.events.on("reconnecting", (e) => delays.push(e.delay));
      await settle();
      // Three quick drops: n grows to 3.
      for (let i = 0; i < 3; i++) {
        server.dropAll();
        await settle();
        clock.tick(delays.at(-1)!);
        await settle();
        assert.equal(client.state, "open");
      }
      assert.deepEqual(delays, [250, 500, 1000]);
      clock.tick(upFor);
      server.dropAll();
      await settle();
      assert.equal(delays.at(-1), reset ? 250 : 2000);
      await client.close();
    });
  }
});

Deno.test("the first retry after a server restart waits random(0, base), for 1001 and 1006 alike: no herd", async (t) => {
  // A thousand clients of one server lose it at the same instant: were the
  // first retry immediate, all would hit the new server at once.
  for (const code of [1001, 1006, 0]) {
    await t.step(`close ${code}`, async () => {
      const draws = [0.999, 0.5, 0];
      const { client, server, net, clock } = rig({ random: () => draws.shift() ?? 0.5 });
      const delays: number[] = [];
      client.events.on("reconnecting", (e) => delays.push(e.delay));
      await settle();
      server.closeAll(code, code === 1001 ? "Server shutting down" : "");
      await settle();
      assert.deepEqual(delays, [499], "random(0, 500): 0.999 of the window");
      clock.tick(498);
      await settle();
      assert.equal(net.sockets.length, 1, "no attempt before the delay");
      clock.tick(1);
      await settle();
      assert.equal(net.sockets.length, 2);
      assert.equal(client.state, "open");
      await client.close();
    });
  }
});
