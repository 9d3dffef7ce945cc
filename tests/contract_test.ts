/**
 * The contract (`src/contract.ts`, `src/contract_rules.ts`), on the fake
 * socket: `defineContract()` and `type()`, inbound messages checked before
 * `onMessage` (unknown topics, invalid data, transforms, async schemas in
 * order), the `$error` they get and its bounds, `invalidMessage`, and
 * `validateOutbound`. Requests are in `requests_test.ts`.
 */
import assert from "node:assert/strict";
import { defineContract, type } from "../src/contract.ts";
import { Server } from "../src/server.ts";
import type { StandardSchemaV1 } from "../src/standard_schema.ts";
import { openContractSession } from "./_contract.ts";
import { endOfTick } from "./_fake_socket.ts";
import { later, line, manual, num, numbers, schema, text, words } from "./_schemas.ts";

const contract = defineContract({
  client: { say: line, count: words, add: numbers, note: type<{ any: string }>() },
  server: { said: line, total: num, free: type<unknown>() },
});

/** A server with `contract` (or `options.contract`) on a fake socket. */
function setup(options: Record<string, unknown> = {}) {
  return openContractSession({ contract, ...options });
}

// ---------------------------------------------------------------- defineContract and type

Deno.test("defineContract() accepts Standard Schema objects and returns a frozen contract", () => {
  const c = defineContract({
    client: { say: text },
    requests: { r: { input: num, output: text } },
  });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.client) && Object.isFrozen(c.requests.r));
  assert.equal(c.client.say, text);
  assert.deepEqual(Object.keys(c.server), []);
  assert.deepEqual(c.requests.r, { input: num, output: text });
});

Deno.test("defineContract() finds ~standard through the prototype and on functions", () => {
  // Zod 4 defines "~standard" as a getter on the prototype; an ArkType schema is a function.
  class Inherited {
    get "~standard"(): StandardSchemaV1.Props<string> {
      return text["~standard"];
    }
  }
  const callable = Object.assign(() => {}, { "~standard": text["~standard"] });
  const c = defineContract({
    client: {
      a: new Inherited() as StandardSchemaV1<string>,
      b: callable as StandardSchemaV1<string>,
    },
  });
  assert.deepEqual(Object.keys(c.client), ["a", "b"]);
});

Deno.test("defineContract() refuses what is not a schema and names that are not allowed", async (t) => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      "a plain value",
      () => defineContract({ client: { a: "string" as never } }),
      /client topic "a" is not a Standard Schema v1/,
    ],
    [
      "a validate that is not a function",
      () =>
        defineContract({
          server: { a: { "~standard": { version: 1, vendor: "x", validate: 1 } } as never },
        }),
      /server topic "a"/,
    ],
    [
      "another version",
      () =>
        defineContract({
          client: {
            a: {
              "~standard": { version: 2, vendor: "x", validate: () => ({ value: 1 }) },
            } as never,
          },
        }),
      /not a Standard Schema v1/,
    ],
    [
      "a request without output",
      () => defineContract({ requests: { r: { input: text } as never } }),
      /request "r" output/,
    ],
    [
      "a request that is not an object",
      () => defineContract({ requests: { r: text as never } }),
      /request "r" (needs|input)/,
    ],
    [
      "a name starting with $",
      () => defineContract({ client: { $error: text } }),
      /must have 1 to 128 characters and not start with "\$"/,
    ],
    ["an empty name", () => defineContract({ server: { "": text } }), /1 to 128 characters/],
    ["a name too long", () => defineContract({ client: { ["x".repeat(129)]: text } }), /1 to 128/],
    [
      "a request named as a client topic",
      () => defineContract({ client: { a: text }, requests: { a: { input: text, output: text } } }),
      /both a client topic and a request/,
    ],
    [
      "a group that is not an object",
      () => defineContract({ client: 1 as never }),
      /"client" must be an object/,
    ],
    [
      "no definition",
      () => defineContract(null as never),
      /expected \{ client, server, requests \}/,
    ],
  ];
  for (const [name, define, message] of cases) {
    await t.step(name, () => assert.throws(define, { name: "TypeError", message }));
  }
});

Deno.test("type<T>() is a Standard Schema that accepts every value as it is", async () => {
  const props = type<number>()["~standard"];
  assert.equal(props.version, 1);
  assert.deepEqual(await props.validate("not a number"), { value: "not a number" });
  assert.equal(type<string>(), type<number>(), "one shared marker");
});

Deno.test("new Server() refuses a contract made by hand that is not one", () => {
  assert.throws(
    () => new Server({ contract: { client: { a: 1 }, server: {}, requests: {} } as never }),
    { name: "TypeError", message: /client topic "a" is not a Standard Schema/ },
  );
});

// ---------------------------------------------------------------- inbound messages

Deno.test("a valid message reaches onMessage with the schema's output", async () => {
  const { send, messages, socket, server } = await setup();
  send({ topic: "say", data: { text: "hi" } });
  send({ topic: "count", data: "  three small words " });
  send({ topic: "note", data: { anything: [1, 2] } }); // type-only: unchecked
  assert.deepEqual(messages, [
    { topic: "say", data: { text: "hi" } },
    { topic: "count", data: { text: "three small words", words: 3 } },
    { topic: "note", data: { anything: [1, 2] } },
  ]);
  assert.deepEqual(socket.texts(), []);
  assert.equal(server.stats.invalidMessages, 0);
});

Deno.test("a stray id on a message is dropped; onMessage sees topic and data only", async () => {
  const { send, messages } = await setup();
  send({ topic: "say", data: { text: "hi" }, id: 4 });
  send({ topic: "note", data: 1, id: 5 });
  assert.deepEqual(messages, [{ topic: "say", data: { text: "hi" } }, { topic: "note", data: 1 }]);
  assert.ok(messages.every((m) => !("id" in m)));
});

Deno.test("invalid data never reaches onMessage: counted, reported, answered with $error", async () => {
  const { send, messages, invalid, socket, server, session } = await setup();
  send({ topic: "say", data: { text: 42, extra: true } });
  assert.deepEqual(messages, []);
  assert.equal(invalid.length, 1);
  assert.equal(invalid[0].code, "invalid");
  assert.equal(invalid[0].topic, "say");
  assert.deepEqual(invalid[0].issues.map((i) => i.message), ["Expected a string", "Unknown key"]);
  assert.deepEqual(socket.texts(), [{
    topic: "$error",
    data: {
      code: "invalid",
      message: 'Invalid message: Invalid data for "say"',
      topic: "say",
      issues: [
        { path: ["text"], message: "Expected a string" },
        { path: ["extra"], message: "Unknown key" },
      ],
    },
  }]);
  assert.equal(server.stats.invalidMessages, 1);
  assert.equal(session.stats.invalidMessages, 1);
  assert.equal(session.state, "open");
});

Deno.test("an unknown topic never reaches onMessage and gets a $error with no issues", async () => {
  const { send, messages, invalid, socket } = await setup();
  for (const topic of ["nope", "__proto__", "constructor", "toString", "said"]) {
    send({ topic, data: 1 });
  }
  assert.deepEqual(messages, []);
  assert.equal(invalid.length, 5);
  const errors = socket.texts() as { data: { topic: string; message: string; issues: [] } }[];
  assert.deepEqual(errors[0], {
    topic: "$error",
    data: {
      code: "invalid",
      message: 'Invalid message: Unknown topic "nope"',
      topic: "nope",
      issues: [],
    },
  });
  assert.deepEqual(errors.map((e) => e.data.topic), [
    "nope",
    "__proto__",
    "constructor",
    "toString",
    "said",
  ]);
});

Deno.test("forbidden keys are refused before the contract, with their own code", async () => {
  const { connection, messages, socket } = await setup();
  connection.message('{"topic":"note","data":{"__proto__":{"polluted":true}}}');
  assert.deepEqual(messages, []);
  assert.deepEqual((socket.texts()[0] as { data: { code: string } }).data.code, "forbidden-key");
});

Deno.test("the $error's issues are bounded: 10 issues, short messages, paths and keys", async () => {
  const { send, invalid, socket, connection } = await setup();
  send({
    topic: "add",
    data: Array.from({ length: 500 }, (_, i) => i < 12 ? "x".repeat(i * 20) : "y"),
  });
  assert.equal(invalid[0].issues.length, 500, "onInvalidMessage gets every issue");
  const [error] = socket.texts() as { data: { issues: { path: unknown[]; message: string }[] } }[];
  assert.equal(error.data.issues.length, 10);
  assert.deepEqual(error.data.issues[0], { path: [0], message: 'Expected a number, got ""' });
  const long = error.data.issues[9].message;
  assert.equal(long.length, 160);
  assert.ok(long.endsWith("…"));
  assert.ok((socket.sent[0] as string).length < 2500);

  // Deep paths and long keys, from a schema that reports them.
  const deep = schema<unknown>(() => ({
    issues: [{
      message: "m".repeat(1000),
      path: [..."abcdefghijkl"].map((k) => k.repeat(100)).concat([Symbol("s") as never]),
    }],
  }));
  const { send: send2, socket: socket2 } = await setup({
    contract: defineContract({ client: { deep } }),
  });
  send2({ topic: "deep" });
  const [wire] = socket2.texts() as { data: { issues: { path: string[]; message: string }[] } }[];
  assert.equal(wire.data.issues[0].path.length, 8);
  assert.ok(wire.data.issues[0].path.every((k) => k.length === 32 && k.endsWith("…")));
  assert.equal(wire.data.issues[0].message.length, 160);

  // An unknown topic of any length is echoed cut short.
  connection.message(JSON.stringify({ topic: "t".repeat(10_000) }));
  const unknown = socket.texts()[1] as { data: { topic: string; message: string } };
  assert.equal(unknown.data.topic.length, 128);
  assert.ok(unknown.data.message.length < 120);
});

Deno.test("a validator that throws or returns nonsense makes the message invalid, not a crash", async () => {
  const broken = [
    schema<unknown>(() => {
      throw new Error("secret detail");
    }),
    schema<unknown>(() => Promise.reject(new Error("secret detail"))),
    schema<unknown>(() => null as never),
    schema<unknown>(() => ({ issues: "bad" }) as never),
  ];
  for (const bad of broken) {
    const { send, messages, invalid, socket } = await setup({
      contract: defineContract({ client: { bad } }),
    });
    send({ topic: "bad", data: 1 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(messages, []);
    assert.equal(invalid.length, 1);
    assert.ok(invalid[0].cause !== undefined);
    const text = socket.sent[0] as string;
    assert.match(text, /"The validator failed"/);
    assert.doesNotMatch(text, /secret/);
  }
});

Deno.test("invalidMessage: close closes with 1007; ignore answers nothing; both count and report", async () => {
  const closing = await setup({ invalidMessage: "close" });
  closing.send({ topic: "nope" });
  assert.deepEqual(closing.socket.closes.map((c) => c.code), [1007]);
  assert.equal(closing.closes[0].kind, "invalid");
  assert.equal(closing.invalid.length, 1);

  const ignoring = await setup({ invalidMessage: "ignore" });
  ignoring.send({ topic: "say", data: {} });
  assert.deepEqual(ignoring.socket.sent, []);
  assert.equal(ignoring.invalid.length, 1);
  assert.equal(ignoring.server.stats.invalidMessages, 1);
});

Deno.test("the validate option still runs, before the contract", async () => {
  const seen: string[] = [];
  const { send, messages, socket } = await setup({
    validate: (envelope: { topic: string }) => {
      seen.push(envelope.topic);
      return envelope.topic !== "note";
    },
  });
  send({ topic: "note", data: 1 });
  send({ topic: "say", data: { text: "x" } });
  assert.deepEqual(seen, ["note", "say"]);
  assert.equal((socket.texts()[0] as { data: { code: string } }).data.code, "rejected");
  assert.equal(messages.length, 1);
});

// ---------------------------------------------------------------- async schemas keep order

Deno.test("an async schema holds the message's place: onMessage runs in arrival order", async (t) => {
  for (const slots of [1, 4]) {
    await t.step(`maxConcurrentHandlers ${slots}`, async () => {
      const gate = manual(text);
      const { send, messages, invalid } = await setup({
        maxConcurrentHandlers: slots,
        contract: defineContract({ client: { slow: gate.schema, fast: text } }),
      });
      send({ topic: "slow", data: "a" });
      send({ topic: "fast", data: "b" });
      send({ topic: "slow", data: 3 }); // invalid, once checked
      send({ topic: "nope" }); // unknown: known at once, reported in its turn
      send({ topic: "fast", data: "e" });
      await endOfTick();
      assert.equal(messages.length, 0, "everything waits for the first check");
      assert.equal(invalid.length, 0);
      gate.settle(0);
      await endOfTick();
      await endOfTick();
      // With one slot, "fast b" was in the backlog; with four it was checked and waits its turn.
      if (slots > 1) gate.settle(1);
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (slots === 1) {
        gate.settle(1);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      assert.deepEqual(messages.map((m) => m.data), ["a", "b", "e"]);
      assert.deepEqual(invalid.map((e) => e.topic), ["slow", "nope"]);
    });
  }
});

Deno.test("an async schema with a delay keeps order across many messages", async () => {
  const { send, messages } = await setup({
    maxConcurrentHandlers: 8,
    contract: defineContract({ client: { a: later(num, 5), b: num } }),
  });
  for (let i = 0; i < 40; i++) send({ topic: i % 3 === 0 ? "a" : "b", data: i });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(messages.map((m) => m.data), Array.from({ length: 40 }, (_, i) => i));
});

Deno.test("a session closed while a check is under way hands nothing to onMessage", async () => {
  const gate = manual(text);
  const { send, messages, session } = await setup({
    contract: defineContract({ client: { slow: gate.schema } }),
  });
  send({ topic: "slow", data: "a" });
  await session.close();
  gate.settle(0);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(messages, []);
});

// ---------------------------------------------------------------- outbound

Deno.test("without validateOutbound, outbound data is not checked", async () => {
  const { session, server, socket } = await setup();
  session.send("said", { wrong: true });
  server.broadcast("total", "not a number");
  assert.equal(socket.sent.length, 2);
});

Deno.test("validateOutbound: a bad send, publish, sendTo or broadcast throws a TypeError at the call", async () => {
  const { session, server, socket } = await setup({ validateOutbound: true });
  session.rooms.join("r");
  session.send("said", { text: "fine" });
  server.publish("r", "total", 3);
  server.broadcast("free", { anything: 1 });
  assert.equal(socket.sent.length, 3);
  const bad: [string, () => unknown, RegExp][] = [
    [
      "send",
      () => session.send("said", { text: 1 }),
      /Cannot send "said": text: Expected a string/,
    ],
    [
      "publish",
      () => server.publish("r", "total", "3"),
      /Cannot send "total": Expected a number/,
    ],
    ["sendTo", () => server.sendTo([session], "said", {}), /Cannot send "said"/],
    [
      "broadcast",
      () => server.broadcast("nope", 1),
      /Cannot send "nope": not a server topic/,
    ],
  ];
  for (const [, call, message] of bad) assert.throws(call, { name: "TypeError", message });
  assert.equal(socket.sent.length, 3, "nothing was sent");
  // Checked even when nobody would get it.
  assert.throws(() => server.publish("empty room", "total", "3"), TypeError);
  await session.close();
  assert.throws(() => server.broadcast("total", "3"), TypeError);
});

Deno.test("validateOutbound: data is sent as given, not as the schema transforms it", async () => {
  const { session, socket } = await setup({
    validateOutbound: true,
    contract: defineContract({ server: { count: words } }),
  });
  session.send("count", "  two words ");
  assert.deepEqual(socket.texts(), [{ topic: "count", data: "  two words " }]);
});

Deno.test("validateOutbound: an async server schema cannot be checked at the call", async () => {
  const { session } = await setup({
    validateOutbound: true,
    contract: defineContract({ server: { slow: later(text) } }),
  });
  assert.throws(() => session.send("slow", "x"), {
    name: "TypeError",
    message: 'Cannot check "slow" before sending: its schema is async',
  });
  await new Promise((resolve) => setTimeout(resolve, 5)); // the check's own timer
});
