import assert from "node:assert/strict";
import { Client, connect } from "../client/client.ts";
import type { InvalidEvent, RejectedEvent } from "../client/events.ts";
import { defineContract, type } from "../src/contract.ts";
import type { StandardSchemaV1 } from "../src/standard_schema.ts";
import { FakeNet, settle } from "./_fake_ws.ts";
import { FakeRequestError, rig } from "./_fake_ws_server.ts";

const text: StandardSchemaV1<string> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate: (v) => typeof v === "string" ? { value: v } : { issues: [{ message: "Not text" }] },
  },
};
const slow: StandardSchemaV1<string> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate: (v) => Promise.resolve({ value: v as string }),
  },
};
const contract = defineContract({
  client: { say: text, typed: type<number>(), later: slow },
  server: { said: text, count: type<number>() },
  requests: { shout: { input: text, output: text } },
});

Deno.test("send() checks data against the contract: TypeError at the call site, nothing sent", async () => {
  const { client, server } = rig({ contract });
  await settle();
  assert.throws(
    () => client.send("say", 42 as unknown as string),
    (e) => e instanceof TypeError && /Cannot send "say": Not text/.test(e.message),
  );
  // @ts-expect-error: not a client topic
  assert.throws(() => client.send("nope", 1), /not a client topic of the contract/);
  assert.throws(() => client.send("later", "x"), /its schema is async/);
  assert.equal(client.send("say", "hi"), "sent");
  assert.equal(client.send("typed", 1), "sent"); // type-only: unchecked
  await settle();
  assert.deepEqual(server.received, [{ topic: "say", data: "hi" }, { topic: "typed", data: 1 }]);
  await client.close();
});

Deno.test("request() checks its input against the contract (thrown, not rejected)", async () => {
  const { client } = rig({ contract }, { requests: { shout: (s) => String(s).toUpperCase() } });
  assert.throws(() => client.request("shout", 1 as unknown as string), /Cannot request "shout"/);
  // @ts-expect-error: not a request
  assert.throws(() => client.request("whisper", "x"), /not a request of the contract/);
  assert.equal(await client.request("shout", "hey"), "HEY");
  await client.close();
});

Deno.test("validateOutbound: false sends whatever it is given", async () => {
  const { client, server } = rig({ contract, validateOutbound: false });
  await settle();
  client.send("say", 42 as unknown as string);
  await settle();
  assert.deepEqual(server.received, [{ topic: "say", data: 42 }]);
  await client.close();
});

Deno.test("validateInbound: an invalid server message is counted, reported, not delivered", async () => {
  const { client, server, net } = rig({ contract, validateInbound: true }, {
    requests: { shout: () => 7 },
  });
  const got: string[] = [];
  client.on("said", (s) => got.push(s));
  const invalid: InvalidEvent[] = [];
  client.events.on("invalid", (e) => invalid.push(e));
  await settle();
  server.send(net.last, { topic: "said", data: 1 });
  server.send(net.last, { topic: "said", data: "ok" });
  await settle();
  assert.deepEqual(got, ["ok"]);
  assert.equal(invalid.length, 1);
  assert.equal(invalid[0].reason, "data");
  assert.equal(invalid[0].topic, "said");
  await assert.rejects(client.request("shout", "x"), /Cannot accept the output of "shout"/);
  assert.equal(client.stats.invalid, 2);
  await client.close();
});

Deno.test("without validateInbound, server data reaches handlers as received", async () => {
  const { client, server, net } = rig({ contract });
  const got: unknown[] = [];
  client.on("said", (s) => got.push(s));
  await settle();
  server.send(net.last, { topic: "said", data: 1 });
  await settle();
  assert.deepEqual(got, [1]);
  await client.close();
});

Deno.test("on(): handlers run in order, get the message, and are removed by the returned function", async () => {
  const { client, server, net } = rig();
  const calls: string[] = [];
  const off = client.on("t", (data, message) => calls.push(`1:${data}:${message.topic}`));
  client.on("t", (data) => calls.push(`2:${data}`));
  await settle();
  server.send(net.last, { topic: "t", data: "a" });
  await settle();
  off();
  off();
  server.send(net.last, { topic: "t", data: "b" });
  server.send(net.last, { topic: "other", data: "c" });
  await settle();
  assert.deepEqual(calls, ["1:a:t", "2:a", "2:b"]);
  assert.equal(client.stats.unhandled, 1);
  await client.close();
});

Deno.test("a handler that throws is reported as an error event; the others still run", async () => {
  const { client, server, net } = rig();
  const errors: unknown[] = [];
  client.events.on("error", (e) => errors.push(e));
  const calls: number[] = [];
  client.on("t", () => {
    throw new Error("boom");
  });
  client.on("t", (n) => calls.push(n as number));
  await settle();
  server.send(net.last, { topic: "t", data: 1 });
  await settle();
  assert.deepEqual(calls, [1]);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as { topic: string }).topic, "t");
  await client.close();
});

Deno.test("a $error from the server is a rejected event, counted", async () => {
  const { client, server, net } = rig();
  const rejected: RejectedEvent[] = [];
  client.events.on("rejected", (e) => rejected.push(e));
  await settle();
  server.send(net.last, {
    topic: "$error",
    data: { code: "rate-limited", message: "Slow down" },
  });
  server.send(net.last, { topic: "$error", data: "garbage" });
  await settle();
  assert.deepEqual(rejected, [
    { code: "rate-limited", message: "Slow down" },
    { code: "unknown", message: "" },
  ]);
  assert.equal(client.stats.rejected, 2);
  await client.close();
});

Deno.test("frames that are not valid envelopes are counted and reported, never delivered", async () => {
  const { client, server, net } = rig();
  const invalid: InvalidEvent[] = [];
  client.events.on("invalid", (e) => invalid.push(e));
  const got: unknown[] = [];
  client.on("t", (d) => got.push(d));
  await settle();
  for (
    const frame of [
      "not json",
      "42",
      '{"data":1}',
      '{"topic":"t","data":{"__proto__":{"x":1}}}',
      '{"topic":"t","data":{"constructor":{"prototype":{}}}}',
      '[{"topic":"t","data":1},{"nope":1}]',
    ]
  ) server.send(net.last, frame);
  server.send(net.last, '{"topic":"t","data":"fine"}');
  await settle();
  assert.deepEqual(got, ["fine"]);
  assert.equal(invalid.length, 6);
  assert.ok(invalid.every((e) => e.reason === "frame"));
  assert.equal(client.stats.invalid, 6);
  assert.equal(client.state, "open");
  await client.close();
});

Deno.test("control topics the client does not know are ignored; $heartbeat too", async () => {
  const { client, server, net } = rig();
  await settle();
  server.send(net.last, { topic: "$future", data: 1 });
  server.heartbeat();
  await settle();
  assert.equal(client.stats.unhandled, 0);
  assert.equal(client.stats.received, 2);
  await client.close();
});

Deno.test("a binary frame is a binary event", async () => {
  const { client, net } = rig();
  const got: ArrayBuffer[] = [];
  client.events.on("binary", (b) => got.push(b));
  await settle();
  assert.equal(net.last.binaryType, "arraybuffer");
  net.last.fireMessage(new Uint8Array([1, 2]).buffer);
  assert.deepEqual([...new Uint8Array(got[0])], [1, 2]);
  await client.close();
});

Deno.test("state events: connecting, open, reconnecting, open, closed", async () => {
  const { client, server, retry } = rig();
  const seen: string[] = [];
  client.events.on("connecting", ({ attempt }) => seen.push(`connecting ${attempt}`));
  client.events.on("state", ({ state, previous }) => seen.push(`${previous} -> ${state}`));
  client.events.on("open", ({ reconnected }) => seen.push(`open ${reconnected}`));
  client.events.on("closed", ({ cause }) => seen.push(`closed ${cause}`));
  await settle();
  server.dropAll();
  await settle();
  await retry();
  await client.close();
  assert.deepEqual(seen, [
    "connecting 1",
    "connecting -> open",
    "open false",
    "open -> reconnecting",
    "connecting 2",
    "reconnecting -> open",
    "open true",
    "open -> closed",
    "closed client",
  ]);
});

Deno.test("a listener that closes the client on open stops everything cleanly", async () => {
  const { client, net, clock } = rig();
  client.events.on("open", () => void client.close());
  await settle();
  assert.equal(client.state, "closed");
  assert.equal(net.live, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("stats is a snapshot", async () => {
  const { client } = rig({}, { autoAccept: false });
  const before = client.stats;
  client.send("a", 1);
  assert.equal(before.queued, 0);
  assert.equal(client.stats.queued, 1);
  await client.close();
});

Deno.test("connect() takes ws:, wss:, http: and https: URLs and refuses others", async () => {
  const net = new FakeNet();
  const options = { WebSocket: net.WebSocket, network: null, reconnect: false as const };
  const urls = ["ws://a.test/x?k=1", "wss://a.test/", "http://a.test/p", "https://a.test/"];
  for (const url of urls) await connect(url, options).close();
  for (const url of ["ftp://a.test/", "not a url", "/relative"]) {
    assert.throws(() => connect(url, options), TypeError, url);
  }
  const client = connect(new URL("http://a.test/p?k=1"), { ...options, params: { t: "x" } });
  await settle();
  assert.equal(net.last.url, "ws://a.test/p?k=1&t=x");
  await client.close();
});

Deno.test("options are checked", () => {
  const WebSocket = new FakeNet().WebSocket;
  const bad: [Record<string, unknown>, ErrorConstructor][] = [
    [{ reconnect: { base: 0 } }, RangeError],
    [{ reconnect: { cap: -1 } }, RangeError],
    [{ reconnect: { maxFailedAttempts: 0 } }, RangeError],
    [{ connectTimeout: "5" }, RangeError],
    [{ maxQueueMessages: -1 }, RangeError],
    [{ requestTimeout: 0 }, RangeError],
    [{ overflow: "drop-all" }, TypeError],
    [{ protocols: "chat" }, TypeError],
    [{ params: 7 }, TypeError],
    [{ contract: { client: { x: {} } } }, TypeError],
  ];
  for (const [options, error] of bad) {
    assert.throws(
      () => connect("ws://a.test/", { WebSocket, ...options }),
      error,
      JSON.stringify(options),
    );
  }
});

Deno.test("the global WebSocket is the default; no WebSocket at all is a TypeError", () => {
  const original = globalThis.WebSocket;
  try {
    // deno-lint-ignore no-explicit-any
    (globalThis as any).WebSocket = undefined;
    assert.throws(() => connect("ws://a.test/"), /no WebSocket constructor/);
  } finally {
    globalThis.WebSocket = original;
  }
});

Deno.test("new Client() is connect()", async () => {
  const net = new FakeNet();
  const client = new Client("ws://a.test/", { WebSocket: net.WebSocket, network: null });
  assert.ok(client instanceof Client);
  await client.close();
});

Deno.test("a contract made by hand is checked like the server checks it", () => {
  const WebSocket = new FakeNet().WebSocket;
  assert.throws(
    () =>
      connect("ws://a.test/", {
        WebSocket,
        contract: { client: { $bad: text }, server: {}, requests: {} },
      }),
    /must have 1 to 128 characters/,
  );
});

Deno.test("the server's RequestError code reaches the client's ReplyError", async () => {
  const { client } = rig({ contract }, {
    requests: {
      shout: () => {
        throw new FakeRequestError("empty", "Nothing to shout");
      },
    },
  });
  await assert.rejects(client.request("shout", ""), { name: "ReplyError", code: "empty" });
  await client.close();
});
