import assert from "node:assert/strict";
import { EnvelopeError } from "../src/errors.ts";
import {
  decodeEnvelope,
  decodeFrame,
  decodeRequest,
  encodeEnvelope,
  encodeInvalid,
  encodeReply,
  encodeReplyError,
} from "../src/protocol.ts";

type EnvelopeErrorCode = EnvelopeError["code"];

function assertEnvelopeError(text: string, code: EnvelopeErrorCode): EnvelopeError {
  let caught: unknown;
  try {
    decodeEnvelope(text);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof EnvelopeError, `expected an EnvelopeError for ${text.slice(0, 80)}`);
  assert.ok(caught instanceof SyntaxError);
  assert.equal(caught.name, "EnvelopeError");
  assert.equal(caught.code, code, `code for ${text.slice(0, 80)}`);
  return caught;
}

function assertPrototypeClean(): void {
  const probe: Record<string, unknown> = {};
  for (const key of ["polluted", "x", "admin", "topic", "data"]) {
    assert.equal(probe[key], undefined, `Object.prototype.${key} was set`);
    assert.equal(Object.hasOwn(Object.prototype, key), false);
  }
}

Deno.test("encodeEnvelope() writes topic then data as JSON", () => {
  assert.equal(encodeEnvelope("chat", { text: "hi" }), '{"topic":"chat","data":{"text":"hi"}}');
  assert.equal(encodeEnvelope("n", 0), '{"topic":"n","data":0}');
  assert.equal(encodeEnvelope("n", null), '{"topic":"n","data":null}');
  assert.equal(encodeEnvelope("s", 'a"b\\'), '{"topic":"s","data":"a\\"b\\\\"}');
  assert.equal(encodeEnvelope('we"ird\n', []), '{"topic":"we\\"ird\\n","data":[]}');
  assert.equal(encodeEnvelope("", false), '{"topic":"","data":false}');
  assert.equal(encodeEnvelope("\ud800x", 1), '{"topic":"\\ud800x","data":1}'); // a lone surrogate
});

Deno.test("encodeEnvelope() leaves out undefined data", async (t) => {
  for (
    const [name, data] of [["undefined", undefined], ["a function", () => 1], [
      "a symbol",
      Symbol("s"),
    ]] as const
  ) {
    await t.step(name, () => {
      const text = encodeEnvelope("ping", data);
      assert.equal(text, '{"topic":"ping"}');
      assert.deepEqual(decodeEnvelope(text), { topic: "ping", data: undefined });
    });
  }
});

Deno.test("encodeEnvelope() round-trips through decodeEnvelope()", () => {
  const values = [1, "two", [3, { four: 4 }], { nested: { deep: [null, true] } }, "👋 héllo"];
  for (const data of values) {
    assert.deepEqual(decodeEnvelope(encodeEnvelope("t", data)), { topic: "t", data });
  }
});

Deno.test("encodeEnvelope() uses toJSON like JSON.stringify", () => {
  const data = { toJSON: () => ({ replaced: true }) };
  assert.equal(encodeEnvelope("t", data), '{"topic":"t","data":{"replaced":true}}');
});

Deno.test("encodeEnvelope() throws TypeError on data JSON cannot hold", async (t) => {
  await t.step("a BigInt", () => {
    assert.throws(() => encodeEnvelope("t", 1n), TypeError);
    assert.throws(() => encodeEnvelope("t", { n: 1n }), TypeError);
  });
  await t.step("a cycle", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => encodeEnvelope("t", cycle), TypeError);
  });
  await t.step("a topic that is not a string", () => {
    assert.throws(() => encodeEnvelope(1 as unknown as string, null), TypeError);
  });
});

Deno.test("decodeEnvelope() accepts valid envelopes", async (t) => {
  const cases: [string, { topic: string; data: unknown }][] = [
    ['{"topic":"chat","data":{"text":"hi"}}', { topic: "chat", data: { text: "hi" } }],
    ['{"topic":"x"}', { topic: "x", data: undefined }],
    ['{"topic":"x","data":null}', { topic: "x", data: null }],
    ['{"data":[1,2],"topic":"order"}', { topic: "order", data: [1, 2] }],
    ['  {"topic" : "", "data" : "s"}  ', { topic: "", data: "s" }],
    ['{"topic":"x","data":1,"extra":true}', { topic: "x", data: 1 }],
    ['{"topic":"a","topic":"b"}', { topic: "b", data: undefined }],
    ['{"topic":"x","data":{"constructor":1}}', { topic: "x", data: { constructor: 1 } }],
    ['{"topic":"x","data":{"constructor":{"name":"y"}}}', {
      topic: "x",
      data: { constructor: { name: "y" } },
    }],
    ['{"topic":"x","data":{"prototype":{"a":1}}}', { topic: "x", data: { prototype: { a: 1 } } }],
    ['{"topic":"\\u0041","data":"\\u00e9"}', { topic: "A", data: "é" }],
    ['{"topic":"x","data":"__proto__"}', { topic: "x", data: "__proto__" }],
    ['{"topic":"__proto__","data":"constructor"}', { topic: "__proto__", data: "constructor" }],
  ];
  for (const [text, expected] of cases) {
    await t.step(text, () => {
      const envelope = decodeEnvelope(text);
      assert.deepEqual(envelope, expected);
      assert.deepEqual(Object.keys(envelope).sort(), ["data", "topic"]);
    });
  }
});

Deno.test("decodeEnvelope() returns a fresh object with only topic and data", () => {
  const envelope = decodeEnvelope('{"topic":"x","data":1,"extra":true,"toString":5}');
  assert.equal(Object.getPrototypeOf(envelope), Object.prototype);
  assert.equal((envelope as unknown as Record<string, unknown>).extra, undefined);
  assert.equal(typeof envelope.toString, "function");
});

Deno.test('decodeEnvelope() rejects text that is not JSON with code "json"', async (t) => {
  for (const text of ["", "{", "{oops}", "{'topic':'x'}", '{"topic":"x",}', "undefined", "NaN"]) {
    await t.step(JSON.stringify(text), () => {
      const error = assertEnvelopeError(text, "json");
      assert.ok(error.cause instanceof SyntaxError, "the parser's error is kept as the cause");
    });
  }
});

Deno.test('decodeEnvelope() rejects JSON that is not an object with code "shape"', async (t) => {
  for (const text of ["null", "[]", '[{"topic":"x"}]', "1", '"topic"', "true", "false", "-0"]) {
    await t.step(text, () => void assertEnvelopeError(text, "shape"));
  }
});

Deno.test('decodeEnvelope() rejects a missing or non-string topic with code "topic"', async (t) => {
  const texts = [
    "{}",
    '{"data":1}',
    '{"topic":1}',
    '{"topic":null}',
    '{"topic":["x"]}',
    '{"topic":{"x":1}}',
    '{"Topic":"x"}',
    '{"__proto__":{"topic":"inherited"}}',
  ];
  for (const text of texts) {
    await t.step(text, () => void assertEnvelopeError(text, "topic"));
  }
  assertPrototypeClean();
});

Deno.test('decodeEnvelope() rejects __proto__ keys at any depth with code "forbidden-key"', async (t) => {
  const texts = [
    '{"topic":"x","__proto__":{"polluted":1}}',
    '{"__proto__":{"polluted":1},"topic":"x"}',
    '{"topic":"x","data":{"__proto__":{"polluted":1}}}',
    '{"topic":"x","data":{"a":{"b":{"c":{"__proto__":{"polluted":1}}}}}}',
    '{"topic":"x","data":[1,[2,{"__proto__":{"polluted":1}}]]}',
    '{"topic":"x","data":{"__proto__":null}}',
    '{"topic":"x","data":{"__proto__":1}}',
    // Escaped spellings of the key parse to the same key.
    '{"topic":"x","data":{"\\u005f\\u005fproto__":{"polluted":1}}}',
    '{"topic":"x","data":{"\\u005F\\u005Fproto\\u005F\\u005F":{"polluted":1}}}',
    '{"topic":"x","data":{"__pr\\u006fto__":{"polluted":1}}}',
  ];
  for (const text of texts) {
    await t.step(text, () => void assertEnvelopeError(text, "forbidden-key"));
  }
  assertPrototypeClean();
});

Deno.test('decodeEnvelope() rejects constructor.prototype at any depth with code "forbidden-key"', async (t) => {
  const texts = [
    '{"topic":"x","constructor":{"prototype":{"polluted":1}}}',
    '{"topic":"x","data":{"constructor":{"prototype":{"polluted":1}}}}',
    '{"topic":"x","data":[{"a":{"constructor":{"prototype":null}}}]}',
    '{"topic":"x","data":{"\\u0063onstructor":{"prototype":{"polluted":1}}}}',
    '{"topic":"x","data":{"constructor":{"\\u0070rototype":{"polluted":1}}}}',
  ];
  for (const text of texts) {
    await t.step(text, () => void assertEnvelopeError(text, "forbidden-key"));
  }
  assertPrototypeClean();
});

Deno.test("decodeEnvelope() never pollutes Object.prototype, whatever it decodes", () => {
  const texts = [
    '{"topic":"x","data":{"__proto__":{"polluted":1}}}',
    '{"topic":"x","__proto__":{"admin":true}}',
    '{"topic":"x","data":{"constructor":{"prototype":{"polluted":1}}}}',
    '{"topic":"x","data":{"\\u005f\\u005fproto__":{"x":1}}}',
  ];
  for (const text of texts) {
    try {
      const envelope = decodeEnvelope(text);
      // If it is ever accepted, merging it must still not pollute.
      Object.assign({}, envelope.data);
    } catch {
      // refused: fine
    }
  }
  assertPrototypeClean();
});

Deno.test("decodeEnvelope() survives deep nesting with a result or an EnvelopeError", async (t) => {
  const depth = 100_000;
  const cases: [string, string][] = [
    ["arrays", `{"topic":"x","data":${"[".repeat(depth)}${"]".repeat(depth)}}`],
    ["objects", `{"topic":"x","data":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`],
    // "constructor" in the text makes the decoder walk the whole tree.
    [
      "objects walked for forbidden keys",
      `{"topic":"x","data":${'{"constructor":'.repeat(depth)}1${"}".repeat(depth)}}`,
    ],
    [
      "a __proto__ key at the bottom",
      `{"topic":"x","data":${'{"a":'.repeat(depth)}{"__proto__":{"polluted":1}}${
        "}".repeat(depth)
      }}`,
    ],
    ["unclosed", `{"topic":"x","data":${"[".repeat(depth)}`],
  ];
  for (const [name, text] of cases) {
    await t.step(name, () => {
      let outcome: "result" | EnvelopeErrorCode;
      try {
        const envelope = decodeEnvelope(text);
        assert.equal(envelope.topic, "x");
        outcome = "result";
      } catch (error) {
        assert.ok(error instanceof EnvelopeError, `not an EnvelopeError: ${error}`);
        outcome = error.code;
      }
      if (name === "a __proto__ key at the bottom") assert.equal(outcome, "forbidden-key");
      if (name === "unclosed") assert.equal(outcome, "json");
    });
  }
  assertPrototypeClean();
});

// ---------------------------------------------------------------- requests and replies

Deno.test("decodeEnvelope() drops an id; decodeRequest() keeps it, whatever it is", () => {
  assert.deepEqual(decodeEnvelope('{"topic":"a","data":1,"id":3}'), { topic: "a", data: 1 });
  assert.deepEqual(decodeRequest('{"topic":"a","data":1,"id":3}'), { topic: "a", data: 1, id: 3 });
  assert.deepEqual(decodeRequest('{"topic":"a","id":"x"}'), {
    topic: "a",
    data: undefined,
    id: "x",
  });
  assert.deepEqual(decodeRequest('{"topic":"a","data":1}'), { topic: "a", data: 1 });
  assert.throws(() => decodeRequest('{"topic":"a","id":{"__proto__":{}}}'), EnvelopeError);
});

Deno.test("decodeFrame() keeps a $reply's id and error", () => {
  const frame = "[" + [
    encodeReply(1, { sum: 3 }),
    encodeReply(2, undefined),
    encodeReplyError(3, "not-found", "No such user"),
    encodeEnvelope("chat", "hi"),
  ].join(",") + "]";
  assert.deepEqual(decodeFrame(frame), [
    { topic: "$reply", data: { sum: 3 }, id: 1 },
    { topic: "$reply", data: undefined, id: 2 },
    {
      topic: "$reply",
      data: undefined,
      id: 3,
      error: { code: "not-found", message: "No such user" },
    },
    { topic: "chat", data: "hi" },
  ]);
});

Deno.test("encodeReply() writes the $reply envelope; a value JSON cannot hold throws", () => {
  assert.equal(encodeReply(7, [1, "a"]), '{"topic":"$reply","id":7,"data":[1,"a"]}');
  assert.equal(encodeReply(0, undefined), '{"topic":"$reply","id":0}');
  assert.throws(() => encodeReply(1, 1n), TypeError);
});

Deno.test("encodeInvalid() answers a request with a $reply, anything else with a $error", () => {
  const issues = [{ message: "Expected a string", path: ["a", { key: 0 }] }];
  assert.deepEqual(
    JSON.parse(encodeInvalid(new EnvelopeError("invalid", "Bad", { topic: "t", issues, id: 4 }))),
    {
      topic: "$reply",
      id: 4,
      error: {
        code: "invalid",
        message: "Bad",
        issues: [{ path: ["a", 0], message: "Expected a string" }],
      },
    },
  );
  assert.deepEqual(JSON.parse(encodeInvalid(new EnvelopeError("invalid", "Bad", { topic: "t" }))), {
    topic: "$error",
    data: { code: "invalid", message: "Bad", topic: "t", issues: [] },
  });
  // A cut never splits a surrogate pair.
  const emoji = "😀".repeat(100);
  const text = encodeInvalid(new EnvelopeError("invalid", "Bad", { topic: emoji }));
  const topic: string = JSON.parse(text).data.topic;
  assert.ok(topic.length <= 128 && topic.endsWith("…"));
  assert.ok(!/[\ud800-\udbff]…$/.test(topic));
  assert.doesNotMatch(text, /\\ud[89ab]/i);
});
