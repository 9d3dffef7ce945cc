/**
 * Requests (`src/requests.ts` and their routing in `src/contract_rules.ts`),
 * on the fake socket: the `$reply` of a sync or async handler, a
 * `RequestError`, an internal error that leaks nothing, input checked like a
 * message, output checked under `validateOutbound`, request ids (missing,
 * malformed, duplicate in flight), `maxRequestsInFlight`, and the handler
 * slots requests share with `onMessage`.
 */
import assert from "node:assert/strict";
import { defineContract, type } from "../src/contract.ts";
import { RequestError } from "../src/requests.ts";
import { Server } from "../src/server.ts";
import { openContractSession } from "./_contract.ts";
import { later, line, manual, num, schema, text, words } from "./_schemas.ts";

const contract = defineContract({
  client: { say: line },
  requests: {
    add: {
      input: schema<[number, number]>((v) =>
        Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === "number")
          ? { value: v as [number, number] }
          : { issues: [{ message: "Expected two numbers" }] }
      ),
      output: num,
    },
    count: { input: words, output: num },
    echo: { input: type<unknown>(), output: type<unknown>() },
    slow: { input: later(num), output: num },
  },
});

/** Handlers for `contract`, with a hold: `wait` requests resolve when `release()` is called. */
function handlers() {
  const held: (() => void)[] = [];
  return {
    held,
    release: () => held.splice(0).forEach((resolve) => resolve()),
    requests: {
      add: (_: unknown, [a, b]: [number, number]) => a + b,
      count: (_: unknown, input: { words: number }) => input.words,
      echo: async (_: unknown, input: unknown) => {
        if (input === "refuse") throw new RequestError("refused", "No, thanks");
        if (input === "bug") throw new Error("secret: the database password is hunter2");
        if (input === "bigint") return 1n;
        if (input === "hold") await new Promise<void>((resolve) => held.push(resolve));
        return input;
      },
      slow: (_: unknown, n: number) => n * 2,
    },
  };
}

async function setup(options: Record<string, unknown> = {}) {
  const h = handlers();
  const opened = await openContractSession({ contract, requests: h.requests, ...options });
  return { ...opened, ...h };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("a sync request handler is answered at once with a $reply", async () => {
  const { send, texts, messages } = await setup();
  send({ topic: "add", data: [2, 3], id: 1 });
  send({ topic: "count", data: "  a b  c ", id: 0 }); // the input as its schema outputs it
  assert.deepEqual(texts(), [
    { topic: "$reply", id: 1, data: 5 },
    { topic: "$reply", id: 0, data: 3 },
  ]);
  assert.deepEqual(messages, [], "requests never reach onMessage");
});

Deno.test("an async request handler is answered once it resolves; undefined leaves data out", async () => {
  const { send, connection, socket, texts } = await setup();
  send({ topic: "echo", data: { any: ["thing"] }, id: 7 });
  send({ topic: "echo", id: 8 });
  assert.deepEqual(texts(), []);
  await tick();
  assert.deepEqual(texts(), [
    { topic: "$reply", id: 7, data: { any: ["thing"] } },
    { topic: "$reply", id: 8 },
  ]);
  assert.equal(socket.sent[1], '{"topic":"$reply","id":8}');
  assert.ok(connection);
});

Deno.test("a RequestError is answered with its code and message, and is no error", async () => {
  const { send, texts, errors } = await setup();
  send({ topic: "echo", data: "refuse", id: 3 });
  await tick();
  assert.deepEqual(texts(), [{
    topic: "$reply",
    id: 3,
    error: { code: "refused", message: "No, thanks" },
  }]);
  assert.deepEqual(errors, []);
});

Deno.test("any other throw is answered internal, leaks nothing, and goes to onError", async () => {
  const { send, socket, texts, errors, session } = await setup();
  send({ topic: "echo", data: "bug", id: 4 });
  send({ topic: "echo", data: "bigint", id: 5 }); // the output cannot be serialized
  await tick();
  await tick();
  assert.deepEqual(texts(), [
    { topic: "$reply", id: 4, error: { code: "internal", message: "Internal error" } },
    { topic: "$reply", id: 5, error: { code: "internal", message: "Internal error" } },
  ]);
  assert.doesNotMatch(socket.sent.join(""), /hunter2|secret|BigInt|at /);
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]), /hunter2/);
  assert.equal(session.state, "open");
});

Deno.test("a sync handler that throws is answered internal too", async () => {
  const { send, texts, errors } = await openContractSession({
    contract: defineContract({ requests: { boom: { input: num, output: num } } }),
    requests: {
      boom() {
        throw new TypeError("bug");
      },
    },
  });
  send({ topic: "boom", data: 1, id: 1 });
  assert.deepEqual(texts(), [{
    topic: "$reply",
    id: 1,
    error: { code: "internal", message: "Internal error" },
  }]);
  assert.equal(errors.length, 1);
});

Deno.test("invalid input never reaches the handler: a $reply with code invalid and the issues", async () => {
  const { send, texts, invalid, server } = await setup();
  send({ topic: "add", data: [1, "2"], id: 9 });
  assert.deepEqual(texts(), [{
    topic: "$reply",
    id: 9,
    error: {
      code: "invalid",
      message: 'Invalid message: Invalid input for "add"',
      issues: [{ path: [], message: "Expected two numbers" }],
    },
  }]);
  assert.equal(invalid[0].id, 9);
  assert.equal(server.stats.invalidMessages, 1);
  // The id is free again.
  send({ topic: "add", data: [1, 2], id: 9 });
  assert.deepEqual(texts()[1], { topic: "$reply", id: 9, data: 3 });
});

Deno.test("an async input schema is answered in turn", async () => {
  const { send, texts } = await setup();
  send({ topic: "slow", data: 21, id: 1 });
  send({ topic: "add", data: [1, 1], id: 2 });
  send({ topic: "slow", data: "x", id: 3 });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(texts().map((t) => [t.id, t.data ?? t.error.code]), [
    [1, 42],
    [2, 2],
    [3, "invalid"],
  ]);
});

Deno.test("request ids: missing or malformed get a $error; an unknown request with an id a $reply", async () => {
  const { send, texts, invalid } = await setup();
  for (const id of [undefined, -1, 1.5, "7", 2 ** 53, null]) {
    send({ topic: "add", data: [1, 2], id });
  }
  send({ topic: "nope", data: 1, id: 1 });
  const answers = texts();
  for (const answer of answers.slice(0, 6)) {
    assert.equal(answer.topic, "$error");
    assert.equal(answer.data.code, "invalid");
    assert.match(
      answer.data.message,
      /Request "add" needs an "id": an integer from 0 to 9007199254740991/,
    );
  }
  assert.deepEqual(answers[6], {
    topic: "$reply",
    id: 1,
    error: { code: "invalid", message: 'Invalid message: Unknown request "nope"', issues: [] },
  });
  assert.equal(invalid.length, 7);
});

Deno.test("a duplicate id in flight is refused with a $error; the first request is answered", async () => {
  const { send, texts, release, invalid } = await setup({ maxConcurrentHandlers: 4 });
  send({ topic: "echo", data: "hold", id: 1 });
  send({ topic: "echo", data: "again", id: 1 });
  assert.deepEqual(texts(), [{
    topic: "$error",
    data: {
      code: "invalid",
      message: "Invalid message: Request id 1 is already in flight",
      topic: "echo",
      issues: [],
    },
  }]);
  assert.equal(invalid.length, 1);
  release();
  await tick();
  assert.deepEqual(texts()[1], { topic: "$reply", id: 1, data: "hold" });
  send({ topic: "echo", data: "reuse", id: 1 }); // free again
  await tick();
  assert.deepEqual(texts()[2], { topic: "$reply", id: 1, data: "reuse" });
});

Deno.test("maxRequestsInFlight: one more is refused too-many-requests, counted as rejected", async () => {
  const { send, texts, release, rejected, server } = await setup({
    maxConcurrentHandlers: 8,
    maxRequestsInFlight: 2,
  });
  send({ topic: "echo", data: "hold", id: 1 });
  send({ topic: "echo", data: "hold", id: 2 });
  send({ topic: "echo", data: "x", id: 3 });
  assert.deepEqual(texts(), [{
    topic: "$reply",
    id: 3,
    error: {
      code: "too-many-requests",
      message: "Request refused: 2 requests of this session are in flight",
    },
  }]);
  assert.deepEqual(rejected, ["too-many-requests"]);
  assert.equal(server.stats.messagesRejected, 1);
  send({ topic: "say", data: { text: "messages are not requests" } });
  release();
  await tick();
  send({ topic: "echo", data: "y", id: 4 });
  await tick();
  assert.deepEqual(texts().slice(1).map((t) => t.id), [1, 2, 4]);
});

Deno.test("requests share the handler slots: with one slot, later messages wait for the reply", async () => {
  const { send, texts, release, messages } = await setup();
  send({ topic: "echo", data: "hold", id: 1 });
  send({ topic: "say", data: { text: "after" } });
  send({ topic: "add", data: [1, 1], id: 2 });
  assert.deepEqual(messages, []);
  assert.deepEqual(texts(), []);
  release();
  await tick();
  assert.deepEqual(messages, [{ topic: "say", data: { text: "after" } }]);
  assert.deepEqual(texts().map((t) => t.id), [1, 2]);
});

Deno.test("validateOutbound: an output its schema refuses is answered internal and reported", async () => {
  const { send, texts, errors } = await openContractSession({
    contract: defineContract({
      requests: {
        half: {
          input: num,
          output: schema<number>((v) =>
            Number.isInteger(v) ? { value: v as number } : { issues: [{ message: "Not whole" }] }
          ),
        },
      },
    }),
    requests: { half: (_: unknown, n: number) => n / 2 },
    validateOutbound: true,
  });
  send({ topic: "half", data: 4, id: 1 });
  send({ topic: "half", data: 3, id: 2 });
  await tick();
  assert.deepEqual(texts(), [
    { topic: "$reply", id: 1, data: 2 },
    { topic: "$reply", id: 2, error: { code: "internal", message: "Internal error" } },
  ]);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /TypeError: Invalid output of request "half": Not whole/);
});

Deno.test("invalidMessage close and ignore apply to requests too", async () => {
  const closing = await setup({ invalidMessage: "close" });
  closing.send({ topic: "add", data: "x", id: 1 });
  assert.deepEqual(closing.socket.closes.map((c) => c.code), [1007]);
  const ignoring = await setup({ invalidMessage: "ignore" });
  ignoring.send({ topic: "add", data: "x", id: 1 });
  assert.deepEqual(ignoring.texts(), []);
});

Deno.test("a reply to a session closed meanwhile is dropped quietly", async () => {
  const { send, session, release, errors, socket } = await setup();
  send({ topic: "echo", data: "hold", id: 1 });
  await session.close();
  release();
  await tick();
  assert.equal(socket.texts().length, 0);
  assert.deepEqual(errors, []);
});

Deno.test("new Server() wants a handler for each request, and no other", () => {
  const c = defineContract({ requests: { a: { input: text, output: text } } });
  assert.throws(() => new Server({ contract: c } as never), {
    name: "TypeError",
    message: 'Invalid option "requests": no handler for request "a"',
  });
  assert.throws(
    () =>
      new Server(
        { contract: c, requests: { a: (_: unknown, s: string) => s, b: () => "" } } as never,
      ),
    {
      name: "TypeError",
      message: 'Invalid option "requests": "b" is not a request of the contract',
    },
  );
  assert.throws(() => new Server({ contract: c, maxRequestsInFlight: 0 }), RangeError);
});

Deno.test("RequestError wants a code", () => {
  const error = new RequestError("not-found", "No such user", { cause: 1 });
  assert.equal(error.name, "RequestError");
  assert.equal(error.code, "not-found");
  assert.equal(error.cause, 1);
  assert.throws(() => new RequestError("", "x"), TypeError);
});

Deno.test("manual schemas settle in any order; replies follow the handlers", async () => {
  const gate = manual(num);
  const { send, texts } = await openContractSession({
    contract: defineContract({ requests: { m: { input: gate.schema, output: num } } }),
    requests: { m: (_: unknown, n: number) => n },
    maxConcurrentHandlers: 4,
  });
  send({ topic: "m", data: 1, id: 1 });
  send({ topic: "m", data: 2, id: 2 });
  gate.settle(1);
  await tick();
  assert.deepEqual(texts(), [], "the second waits for the first");
  gate.settle(0);
  await tick();
  assert.deepEqual(texts().map((t) => t.id), [1, 2]);
});
