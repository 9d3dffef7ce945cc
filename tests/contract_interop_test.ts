/**
 * Interop (development only: `npm:` specifiers, never in `src/`): the same
 * contract written with Zod 4, Valibot 1, ArkType 2 and by hand, each
 * checked by the server through Standard Schema alone: valid data reaches
 * `onMessage` as the schema outputs it, invalid data gets a `$error` with
 * the library's issues and paths, requests check their input, and
 * `validateOutbound` refuses bad outbound data. Types are checked too:
 * `onMessage` and the handlers get each library's output types.
 */
import assert from "node:assert/strict";
import { type } from "npm:arktype@2";
import * as v from "npm:valibot@1";
import { z } from "npm:zod@4";
import { defineContract } from "../src/contract.ts";
import type { StandardSchemaV1 } from "../src/standard_schema.ts";
import { openContractSession } from "./_contract.ts";
import { schema } from "./_schemas.ts";

/** `true` if A and B are the same type. */
type IsExact<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? ((<T>() => T extends B ? 1 : 2) extends (<T>() => T extends A ? 1 : 2) ? true : false)
  : false;

type Counted = { text: string; words: number };
const countWords = (s: string): Counted => {
  const text = s.trim();
  return { text, words: text === "" ? 0 : text.split(/\s+/).length };
};

/** The one contract, four ways. */
const contracts = {
  zod: defineContract({
    client: {
      say: z.strictObject({ text: z.string().min(1).max(200) }),
      count: z.string().transform(countWords),
    },
    server: { said: z.object({ from: z.string(), text: z.string() }) },
    requests: { add: { input: z.tuple([z.number(), z.number()]), output: z.number() } },
  }),
  valibot: defineContract({
    client: {
      say: v.strictObject({ text: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) }),
      count: v.pipe(v.string(), v.transform(countWords)),
    },
    server: { said: v.object({ from: v.string(), text: v.string() }) },
    requests: { add: { input: v.tuple([v.number(), v.number()]), output: v.number() } },
  }),
  arktype: defineContract({
    client: {
      say: type({ "+": "reject", text: "1 <= string <= 200" }),
      count: type("string").pipe(countWords),
    },
    server: { said: type({ from: "string", text: "string" }) },
    requests: { add: { input: type(["number", "number"]), output: type("number") } },
  }),
  hand: defineContract({
    client: {
      say: schema<{ text: string }>((x) => {
        const ok = typeof x === "object" && x !== null && Object.keys(x).join() === "text" &&
          typeof (x as { text: unknown }).text === "string" &&
          (x as { text: string }).text.length >= 1 && (x as { text: string }).text.length <= 200;
        return ok
          ? { value: x as { text: string } }
          : { issues: [{ message: "Bad", path: ["text"] }] };
      }),
      count: schema<string, Counted>((x) =>
        typeof x === "string" ? { value: countWords(x) } : { issues: [{ message: "Not text" }] }
      ),
    },
    server: {
      said: schema<{ from: string; text: string }>((x) =>
        typeof (x as { from?: unknown })?.from === "string" &&
          typeof (x as { text?: unknown }).text === "string"
          ? { value: x as { from: string; text: string } }
          : { issues: [{ message: "Bad" }] }
      ),
    },
    requests: {
      add: {
        input: schema<[number, number]>((x) =>
          Array.isArray(x) && x.length === 2 && x.every((n) => typeof n === "number")
            ? { value: x as [number, number] }
            : { issues: [{ message: "Bad", path: [0] }] }
        ),
        output: schema<number>((x) =>
          typeof x === "number" ? { value: x } : { issues: [{ message: "Bad" }] }
        ),
      },
    },
  }),
};

/** Checks one contract's types: each topic's and request's types, whatever the library. */
function assertContractTypes<
  C extends {
    types?: {
      client: { say: unknown; count: unknown };
      server: { said: unknown };
      requests: { add: { input: unknown; output: unknown } };
    };
  },
>(
  _contract: C,
  _checks: [
    IsExact<NonNullable<C["types"]>["client"]["say"], { text: string }>,
    IsExact<NonNullable<C["types"]>["client"]["count"], Counted>,
    IsExact<NonNullable<C["types"]>["server"]["said"], { from: string; text: string }>,
    IsExact<NonNullable<C["types"]>["requests"]["add"]["input"], [number, number]>,
    IsExact<NonNullable<C["types"]>["requests"]["add"]["output"], number>,
  ],
): void {}

Deno.test("each library's schemas give the same types to onMessage, send and the handlers", () => {
  assertContractTypes(contracts.zod, [true, true, true, true, true]);
  assertContractTypes(contracts.valibot, [true, true, true, true, true]);
  assertContractTypes(contracts.arktype, [true, true, true, true, true]);
  assertContractTypes(contracts.hand, [true, true, true, true, true]);
  assert.ok(contracts);
});

Deno.test("zod, valibot, arktype and a hand-written schema each check the same contract", async (t) => {
  for (const [library, contract] of Object.entries(contracts)) {
    await t.step(library, async () => {
      const { send, messages, invalid, texts, session } = await openContractSession({
        contract,
        requests: { add: (_: unknown, [a, b]: [number, number]) => a + b },
        validateOutbound: true,
      });
      send({ topic: "say", data: { text: "hello" } });
      send({ topic: "count", data: "  three small words " });
      assert.deepEqual(messages, [
        { topic: "say", data: { text: "hello" } },
        { topic: "count", data: { text: "three small words", words: 3 } },
      ]);

      send({ topic: "say", data: { text: "" } });
      send({ topic: "say", data: { text: "x", extra: 1 } });
      send({ topic: "count", data: 42 });
      assert.equal(messages.length, 2, "invalid data never reaches onMessage");
      assert.deepEqual(invalid.map((e) => e.topic), ["say", "say", "count"]);
      const errors = texts();
      for (const error of errors) {
        assert.equal(error.topic, "$error");
        assert.equal(error.data.code, "invalid");
        assert.ok(error.data.issues.length >= 1);
        for (const issue of error.data.issues) {
          assert.equal(typeof issue.message, "string");
          assert.ok(issue.path.every((k: unknown) => ["string", "number"].includes(typeof k)));
        }
      }
      if (library !== "hand") {
        assert.deepEqual(errors[0].data.issues[0].path, ["text"], "the library's path");
      }

      send({ topic: "add", data: [2, 3], id: 1 });
      send({ topic: "add", data: [2, "3"], id: 2 });
      await new Promise((resolve) => setTimeout(resolve, 0));
      const [ok, bad] = texts().slice(3);
      assert.deepEqual(ok, { topic: "$reply", id: 1, data: 5 });
      assert.equal(bad.id, 2);
      assert.equal(bad.error.code, "invalid");

      session.send("said", { from: "a", text: "b" });
      assert.throws(() => session.send("said", { from: "a" }), TypeError);
    });
  }
});

Deno.test("an async Zod refinement and an async Valibot pipe keep message order", async () => {
  const slowZod = z.number().refine(async (n) => {
    await new Promise((resolve) => setTimeout(resolve, n % 2 === 0 ? 5 : 0));
    return n >= 0;
  });
  const slowValibot = v.pipeAsync(
    v.number(),
    v.checkAsync(async (n) => {
      await new Promise((resolve) => setTimeout(resolve, n % 2 === 0 ? 0 : 5));
      return n >= 0;
    }),
  );
  const { send, messages, invalid } = await openContractSession({
    contract: defineContract({ client: { z: slowZod, v: slowValibot, sync: z.number() } }),
    maxConcurrentHandlers: 8,
  });
  for (let i = 0; i < 30; i++) send({ topic: ["z", "v", "sync"][i % 3], data: i });
  send({ topic: "z", data: -1 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(messages.map((m) => m.data), Array.from({ length: 30 }, (_, i) => i));
  assert.equal(invalid.length, 1);
});

Deno.test("a library schema is recognised through its getter or as a function", () => {
  const zod = z.string();
  assert.equal(Object.hasOwn(zod, "~standard"), false, "Zod 4 puts ~standard on the prototype");
  assert.equal(typeof type("string"), "function", "an ArkType schema is a function");
  const props: StandardSchemaV1.Props = zod["~standard"];
  assert.equal(props.vendor, "zod");
});
