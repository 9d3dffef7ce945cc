import assert from "node:assert/strict";
import { Requests } from "../client/_requests.ts";
import {
  ClientClosedError,
  ConnectionLostError,
  ReplyError,
  RequestTimeoutError,
} from "../client/errors.ts";
import { FakeTimers } from "./_fake_socket.ts";
import { settle } from "./_fake_ws.ts";
import { FakeRequestError, NO_REPLY, rig } from "./_fake_ws_server.ts";

/** Counts how a promise settles: it must settle once at most. */
function watch(promise: Promise<unknown>): { settled: () => number; value: () => unknown } {
  let count = 0;
  let value: unknown;
  promise.then((v) => {
    count++;
    value = v;
  }, (e) => {
    count++;
    value = e;
  });
  return { settled: () => count, value: () => value };
}

Deno.test("request() resolves with the server's output", async () => {
  const { client } = rig({}, {
    requests: { add: (input) => (input as number[])[0] + (input as number[])[1] },
  });
  assert.equal(await client.request("add", [2, 3]), 5);
  await client.close();
});

Deno.test("request() rejects with ReplyError carrying the server's code", async () => {
  const { client } = rig({}, {
    requests: {
      withdraw: () => {
        throw new FakeRequestError("insufficient-funds", "Not enough money");
      },
    },
  });
  await assert.rejects(
    client.request("withdraw", 100),
    (e) =>
      e instanceof ReplyError && e.code === "insufficient-funds" &&
      e.message === "Not enough money" && e.request === "withdraw",
  );
  await client.close();
});

Deno.test("request() times out with RequestTimeoutError; a late reply is ignored, never a second settle", async () => {
  const { client, server, clock, net } = rig({}, { requests: { slow: () => NO_REPLY } });
  await settle();
  const watched = watch(client.request("slow", 1, { timeout: 1_000 }));
  await settle();
  clock.tick(999);
  await settle();
  assert.equal(watched.settled(), 0);
  clock.tick(1);
  await settle();
  assert.equal(watched.settled(), 1);
  const error = watched.value() as RequestTimeoutError;
  assert.ok(error instanceof RequestTimeoutError);
  assert.equal(error.request, "slow");
  assert.equal(error.timeout, 1_000);
  assert.equal(error.sent, true);
  assert.equal(client.stats.timedOut, 1);
  server.reply(net.last, 1, "late");
  server.reply(net.last, 1, "later");
  await settle();
  assert.equal(watched.settled(), 1);
  assert.ok(watched.value() instanceof RequestTimeoutError);
  await client.close();
});

Deno.test("a reply delivered twice settles once", async () => {
  const { client, server, net } = rig({}, { requests: { r: () => NO_REPLY } });
  await settle();
  const watched = watch(client.request("r", 1));
  await settle();
  server.reply(net.last, 1, "first");
  server.reply(net.last, 1, "second");
  await settle();
  assert.equal(watched.settled(), 1);
  assert.equal(watched.value(), "first");
  await client.close();
});

Deno.test("a request made offline waits in the queue and is sent on connect, within its timeout", async () => {
  const { client, server } = rig({}, { autoAccept: false, requests: { echo: (x) => x } });
  const pending = client.request("echo", "hi", { timeout: 5_000 });
  await settle();
  server.accept(server.net.last);
  assert.equal(await pending, "hi");
  await client.close();
});

Deno.test("a request still offline at its timeout rejects (sent: false) and leaves the queue", async () => {
  const { client, server, clock } = rig({ connectTimeout: 60_000 }, {
    autoAccept: false,
    requests: { echo: (x) => x },
  });
  const watched = watch(client.request("echo", "hi", { timeout: 2_000 }));
  await settle();
  assert.equal(client.stats.queued, 1);
  clock.tick(2_000);
  await settle();
  const error = watched.value() as RequestTimeoutError;
  assert.ok(error instanceof RequestTimeoutError);
  assert.equal(error.sent, false);
  assert.equal(client.stats.queued, 0);
  assert.equal(client.stats.queuedBytes, 0);
  server.accept(server.net.last);
  await settle();
  assert.deepEqual(server.received, []); // never sent
  await client.close();
});

Deno.test("a reconnect fails the requests in flight with ConnectionLostError; queued ones go on the next connection", async () => {
  const { client, server, retry } = rig({}, {
    requests: { slow: () => NO_REPLY, echo: (x) => x },
  });
  await settle();
  const inFlight = watch(client.request("slow", 1));
  await settle();
  server.down = true;
  server.dropAll();
  await settle();
  assert.ok(inFlight.value() instanceof ConnectionLostError);
  assert.equal((inFlight.value() as ConnectionLostError).code, 1006);
  assert.equal(client.stats.lost, 1);
  const queued = client.request("echo", "later");
  server.down = false;
  await retry();
  assert.equal(await queued, "later");
  assert.equal(inFlight.settled(), 1);
  await client.close();
});

Deno.test("requests never exceed the server's maxRequestsInFlight; the rest wait in order", async () => {
  const { client, server, net } = rig({}, {
    limits: { maxRequestsInFlight: 2 },
    requests: { slow: () => NO_REPLY },
  });
  await settle();
  const results = [1, 2, 3, 4].map((n) => client.request("slow", n));
  client.send("after", 5); // behind the waiting requests: order is kept
  await settle();
  assert.deepEqual(server.received.map((e) => e.data), [1, 2]);
  server.reply(net.last, 1, "one");
  await settle();
  assert.deepEqual(server.received.map((e) => e.data), [1, 2, 3]);
  server.reply(net.last, 2, "two");
  server.reply(net.last, 3, "three");
  await settle();
  assert.deepEqual(server.received.map((e) => e.data), [1, 2, 3, 4, 5]);
  server.reply(net.last, 4, "four");
  assert.deepEqual(await Promise.all(results), ["one", "two", "three", "four"]);
  assert.equal(net.last.maxInFlight, 2);
  await client.close();
});

Deno.test("a request that timed out in flight keeps its server slot until answered", async () => {
  const { client, server, clock, net } = rig({}, {
    limits: { maxRequestsInFlight: 1 },
    requests: { slow: () => NO_REPLY },
  });
  await settle();
  const first = watch(client.request("slow", 1, { timeout: 100 }));
  const second = client.request("slow", 2);
  await settle();
  clock.tick(100);
  await settle();
  assert.ok(first.value() instanceof RequestTimeoutError);
  assert.deepEqual(server.received.map((e) => e.data), [1]); // the server still runs the first
  server.reply(net.last, 1, "late");
  await settle();
  assert.deepEqual(server.received.map((e) => e.data), [1, 2]);
  server.reply(net.last, 2, "two");
  assert.equal(await second, "two");
  await client.close();
});

Deno.test("close() rejects every request waiting with ClientClosedError; later ones reject at once", async () => {
  const { client } = rig({}, { requests: { slow: () => NO_REPLY } });
  await settle();
  const inFlight = client.request("slow", 1);
  await settle();
  const closing = client.close();
  await assert.rejects(inFlight, ClientClosedError);
  await closing;
  await assert.rejects(client.request("slow", 2), ClientClosedError);
});

Deno.test("request() checks its timeout option", async () => {
  const { client } = rig();
  assert.throws(() => client.request("x", 1, { timeout: 0 }), RangeError);
  assert.throws(() => client.request("x", 1, { timeout: NaN }), RangeError);
  await client.close();
});

Deno.test("request() throws a TypeError for input that cannot be serialized, and forgets it", async () => {
  const { client, clock } = rig();
  assert.throws(() => client.request("x", 10n), TypeError);
  assert.equal(clock.pending, 0); // no timeout timer left behind
  await client.close();
});

Deno.test("Requests: each request settles exactly once, whatever comes first", async (t) => {
  const clock = new FakeTimers();
  const outcomes: string[] = [];
  const unqueued: number[] = [];
  const requests = new Requests(clock, (id) => unqueued.push(id));
  const add = (name: string, timeout?: number) =>
    requests.add(
      name,
      (o) => outcomes.push(`${name}:${"error" in o ? o.error.name : o.value}`),
      timeout,
    );

  await t.step("answer, then timeout, lost, closeAll", () => {
    const id = add("a", 100);
    requests.sent(id);
    assert.equal(requests.answer(id, { value: 1 }), true);
    clock.tick(100);
    requests.lost(1006, "");
    requests.closeAll(() => new Error("closed"));
    assert.deepEqual(outcomes.splice(0), ["a:1"]);
  });
  await t.step("timeout while queued: unqueued, then a reply is refused", () => {
    const id = add("b", 100);
    clock.tick(100);
    assert.deepEqual(unqueued, [id]);
    requests.sent(id);
    assert.equal(requests.answer(id, { value: 2 }), false);
    assert.deepEqual(outcomes.splice(0), ["b:RequestTimeoutError"]);
    assert.equal(requests.inFlight, 0);
  });
  await t.step("timeout in flight: the slot is held until the reply or the loss", () => {
    const id = add("c", 100);
    requests.sent(id);
    clock.tick(100);
    assert.equal(requests.inFlight, 1);
    requests.lost(1006, "");
    assert.equal(requests.inFlight, 0);
    assert.deepEqual(outcomes.splice(0), ["c:RequestTimeoutError"]);
  });
  await t.step("lost fails the sent ones only", () => {
    const sent = add("d", 100);
    add("e", 100);
    requests.sent(sent);
    assert.equal(requests.lost(1006, ""), 1);
    assert.deepEqual(outcomes.splice(0), ["d:ConnectionLostError"]);
    assert.equal(requests.size, 1);
    requests.closeAll(() => new ClientClosedError("x"));
    assert.deepEqual(outcomes.splice(0), ["e:ClientClosedError"]);
    assert.equal(clock.pending, 0);
  });
});
