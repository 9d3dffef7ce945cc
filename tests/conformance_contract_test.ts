/**
 * The conformance suite of the contract and requests: real loopback
 * sockets, the app of `fixtures/contract_app.ts` served by Deno and by Bun.
 * Plain clients (`JSON.stringify`) throughout: what each gets is what
 * PROTOCOL.md documents.
 */
import assert from "node:assert/strict";
import { BATCH_PROTOCOL } from "../mod.ts";
import { type Case, Client, type Received, runConformance } from "./_harness.ts";
import { SECRET } from "./fixtures/contract_app.ts";

/** A `$reply` as a client decodes it. */
interface Reply {
  topic: "$reply";
  id: number;
  data?: unknown;
  error?: { code: string; message: string; issues?: unknown[] };
}

/** Sends a request envelope. */
function request(client: Client, topic: string, data: unknown, id: unknown): void {
  client.socket.send(JSON.stringify({ topic, data, id }));
}

/** The next `$reply` with this id, as its JSON says it (no `data: undefined`). */
async function reply(client: Client, id: number): Promise<Reply> {
  const m = await client.next((m) => "topic" in m && m.topic === "$reply" && _id(m) === id);
  return JSON.parse(JSON.stringify(m));
}

function _id(m: Received): unknown {
  return (m as { id?: unknown }).id;
}

/** Every `got` the client received: what reached `onMessage`. */
function gotten(client: Client): unknown[] {
  return client.received.filter((m) => "topic" in m && m.topic === "got").map((m) =>
    (m as { data: unknown }).data
  );
}

/** Sends a valid message and waits for `onMessage` to echo it: everything before it was handled. */
async function sync(client: Client): Promise<void> {
  client.send("say", { text: "sync" });
  await client.next((m) => "topic" in m && m.topic === "got" && m.data.data?.text === "sync");
}

const CASES: Record<string, Case> = {
  async "invalid data gets the documented $error and never reaches onMessage"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=invalid"));
    client.send("say", { text: 42, extra: true });
    // onInvalidMessage runs first, then the client is answered.
    assert.deepEqual(await client.take("invalid-seen"), {
      code: "invalid",
      topic: "say",
      issues: 2,
    });
    assert.deepEqual(await client.take("$error"), {
      code: "invalid",
      message: 'Invalid message: Invalid data for "say"',
      topic: "say",
      issues: [
        { path: ["text"], message: "Expected a string" },
        { path: ["extra"], message: "Unknown key" },
      ],
    });
    await sync(client);
    assert.deepEqual(gotten(client), [{ topic: "say", data: { text: "sync" } }]);
    await client.close();
  },

  async "an unknown topic gets the documented $error and never reaches onMessage"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=unknown"));
    for (const topic of ["nope", "__proto__", "welcome"]) {
      client.send(topic, { any: 1 });
      assert.deepEqual(await client.take("$error"), {
        code: "invalid",
        message: `Invalid message: Unknown topic "${topic}"`,
        topic,
        issues: [],
      });
    }
    await sync(client);
    assert.equal(gotten(client).length, 1);
    await client.close();
  },

  async "forbidden keys get the documented $error and never reach onMessage"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=forbidden"));
    for (
      const text of [
        '{"topic":"say","data":{"text":"x","__proto__":{"polluted":true}}}',
        '{"topic":"say","data":{"text":"x","constructor":{"prototype":{"polluted":true}}}}',
      ]
    ) {
      client.socket.send(text);
      assert.equal((await client.take("invalid-seen")).code, "forbidden-key");
      assert.equal((await client.take("$error")).code, "forbidden-key");
    }
    await sync(client);
    assert.equal(gotten(client).length, 1);
    await client.close();
  },

  async "an oversized issues list is cut to 10 in the $error; onInvalidMessage gets them all"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=issues"));
    const frames = client.frames;
    client.send("numbers", Array.from({ length: 5000 }, (_, i) => "n".repeat(i % 300)));
    assert.deepEqual(await client.take("invalid-seen"), {
      code: "invalid",
      topic: "numbers",
      issues: 5000,
    });
    const error = await client.take("$error");
    assert.equal(error.code, "invalid");
    assert.equal(error.issues.length, 10);
    assert.deepEqual(error.issues[0], { path: [0], message: 'Expected a number, got ""' });
    for (const issue of error.issues) assert.ok(issue.message.length <= 160);
    assert.ok(JSON.stringify(error).length < 2500, `${JSON.stringify(error).length} characters`);
    assert.equal(client.frames, frames + 2);
    await client.close();
  },

  async "a transform in a schema reaches onMessage transformed"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=transform"));
    client.send("count", "   three small words  ");
    assert.deepEqual(await client.take("got"), {
      topic: "count",
      data: { text: "three small words", words: 3 },
    });
    await client.close();
  },

  async "an async validator keeps message order"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=order"));
    for (let i = 0; i < 30; i++) {
      if (i === 13) client.send("slow", "not a number"); // invalid, reported in its turn
      client.send(i % 3 === 0 ? "slow" : "fast", i);
    }
    await client.next((m) => "topic" in m && m.topic === "got" && m.data.data === 29);
    const order = client.received
      .filter((m) => "topic" in m && (m.topic === "got" || m.topic === "$error"))
      .map((m) => (m as { topic: string; data: { data?: number } }))
      .map((m) => m.topic === "got" ? m.data.data : "error");
    assert.deepEqual(order.filter((x) => x !== "error"), Array.from({ length: 30 }, (_, i) => i));
    assert.equal(order.indexOf("error"), 13, "the invalid message is answered in its turn");
    await client.close();
  },

  async "a request round trip: $reply with the id and the output"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=request"));
    request(client, "add", [2, 3], 1);
    request(client, "add", [40, 2], 0);
    request(client, "echo", { nested: ["value"] }, 2 ** 53 - 1);
    assert.deepEqual(await reply(client, 1), { topic: "$reply", id: 1, data: 5 });
    assert.deepEqual(await reply(client, 0), { topic: "$reply", id: 0, data: 42 });
    assert.deepEqual(await reply(client, 2 ** 53 - 1), {
      topic: "$reply",
      id: 2 ** 53 - 1,
      data: { nested: ["value"] },
    });
    request(client, "add", [1, "2"], 3);
    assert.deepEqual(await reply(client, 3), {
      topic: "$reply",
      id: 3,
      error: {
        code: "invalid",
        message: 'Invalid message: Invalid input for "add"',
        issues: [{ path: [], message: "Expected two numbers" }],
      },
    });
    assert.equal(gotten(client).length, 0, "requests never reach onMessage");
    await client.close();
  },

  async "requests work for a batch client too"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=batched"), [BATCH_PROTOCOL]);
    assert.equal(client.socket.protocol, BATCH_PROTOCOL);
    for (let id = 0; id < 50; id++) request(client, "add", [id, 1], id);
    for (let id = 0; id < 50; id++) assert.equal((await reply(client, id)).data, id + 1);
    await client.close();
  },

  async "a RequestError is answered with its code and message"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=refused"));
    request(client, "echo", "refuse", 7);
    assert.deepEqual(await reply(client, 7), {
      topic: "$reply",
      id: 7,
      error: { code: "refused", message: "No, thanks" },
    });
    await client.close();
  },

  async "an internal error is answered internal, leaks nothing, and reaches onError"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=internal"));
    let raw = "";
    client.socket.addEventListener("message", (e) => raw += String(e.data));
    request(client, "echo", "bug", 8);
    // onError runs first, then the client is answered.
    assert.deepEqual(await client.take("error-seen"), { name: "Error", secret: true });
    assert.deepEqual(await reply(client, 8), {
      topic: "$reply",
      id: 8,
      error: { code: "internal", message: "Internal error" },
    });
    assert.ok(!raw.includes(SECRET) && !raw.includes("password") && !raw.includes(" at "));
    request(client, "add", [1, 1], 9);
    assert.equal((await reply(client, 9)).data, 2, "the session carries on");
    await client.close();
  },

  async "a duplicate id in flight is refused with a $error; the first gets its reply"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=duplicate"));
    request(client, "echo", "hold", 5);
    request(client, "echo", "second", 5);
    assert.deepEqual(await client.take("$error"), {
      code: "invalid",
      message: "Invalid message: Request id 5 is already in flight",
      topic: "echo",
      issues: [],
    });
    client.send("release", null);
    assert.deepEqual(await reply(client, 5), { topic: "$reply", id: 5, data: "hold" });
    request(client, "echo", "again", 5);
    assert.deepEqual(await reply(client, 5), { topic: "$reply", id: 5, data: "again" });
    assert.equal(
      client.received.filter((m) => "topic" in m && m.topic === "$reply").length,
      2,
      "one reply per accepted request",
    );
    await client.close();
  },

  async "too many requests in flight: the next one is refused, counted, the others answered"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=flight"));
    for (const id of [1, 2, 3]) request(client, "echo", "hold", id);
    request(client, "echo", "one too many", 4);
    assert.equal(await client.take("rejected-seen"), "too-many-requests");
    assert.deepEqual(await reply(client, 4), {
      topic: "$reply",
      id: 4,
      error: {
        code: "too-many-requests",
        message: "Request refused: 3 requests of this session are in flight",
      },
    });
    client.send("release", null);
    for (const id of [1, 2, 3]) assert.equal((await reply(client, id)).data, "hold");
    request(client, "echo", "now", 4);
    assert.equal((await reply(client, 4)).data, "now");
    await client.close();
  },

  async "missing or malformed request ids get a $error"(fx) {
    const client = await Client.connect(fx.ws("contract", "user=ids"));
    for (const id of [undefined, -1, 0.5, "1"]) {
      request(client, "add", [1, 2], id);
      const error = await client.take("$error");
      assert.equal(error.code, "invalid");
      assert.equal(error.topic, "add");
      assert.match(error.message, /needs an "id"/);
    }
    await client.close();
  },

  async "invalidMessage close: an invalid message closes with 1007"(fx) {
    const client = await Client.connect(fx.ws("contract-close", "user=closed"));
    client.send("say", { text: 1 });
    const closed = await client.closed;
    assert.equal(closed.code, 1007);
    assert.equal(closed.reason, 'Invalid message: Invalid data for "say"');
  },
};

runConformance("conformance of the contract", CASES);
