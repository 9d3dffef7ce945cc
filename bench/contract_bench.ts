/**
 * What a contract costs per inbound message: one text frame through the
 * whole inbound side (size, slot, decode, contract, `onMessage`) of a
 * session on a socket that discards what it is sent, without a contract
 * (the baseline: today's path), with type-only markers, a hand-written
 * Standard Schema, Valibot, Zod and ArkType. `deno bench -A bench/contract_bench.ts`.
 */
import { type } from "npm:arktype@2";
import * as v from "npm:valibot@1";
import { z } from "npm:zod@4";
import { defineContract, Server, type StandardSchemaV1, type as typeOnly } from "../mod.ts";
import { openBenchSession } from "./_open.ts";

/** A chat line, 64 bytes or so. */
type Say = { room: string; text: string };
const text = JSON.stringify({
  topic: "say",
  data: { room: "lobby", text: "hello there, this is a chat line" },
});

const hand: StandardSchemaV1<Say> = {
  "~standard": {
    version: 1,
    vendor: "bench",
    validate(value) {
      const say = value as Say;
      return typeof value === "object" && value !== null && typeof say.room === "string" &&
          typeof say.text === "string" && say.text.length <= 2000
        ? { value: say }
        : { issues: [{ message: "Expected { room, text }" }] };
    },
  },
};

const schemas: Record<string, StandardSchemaV1<Say> | undefined> = {
  "no contract": undefined,
  "type<T>() only": typeOnly<Say>(),
  "hand-written schema": hand,
  "Valibot 1": v.object({ room: v.string(), text: v.pipe(v.string(), v.maxLength(2000)) }),
  "Zod 4": z.object({ room: z.string(), text: z.string().max(2000) }),
  "ArkType 2": type({ room: "string", text: "string <= 2000" }),
};

let received = 0;
for (const [name, schema] of Object.entries(schemas)) {
  const server = new Server({
    rateLimit: false,
    contract: schema === undefined ? undefined : defineContract({ client: { say: schema } }),
    onMessage() {
      received++;
    },
  });
  const { connection } = await openBenchSession(server as Server<undefined, object, object>);
  Deno.bench({
    group: "100 inbound messages: decode, contract, onMessage",
    name,
    baseline: schema === undefined,
  }, () => {
    for (let i = 0; i < 100; i++) connection.message(text);
  });
}

// The validators alone, for scale.
for (const [name, schema] of Object.entries(schemas)) {
  if (schema === undefined) continue;
  const props = schema["~standard"];
  const data = JSON.parse(text).data;
  Deno.bench({ group: "100 validate() alone", name, baseline: name === "type<T>() only" }, () => {
    for (let i = 0; i < 100; i++) {
      if (props.validate(data) instanceof Promise) throw new Error("async");
    }
  });
}

globalThis.addEventListener("unload", () => {
  if (received === 0) throw new Error("onMessage never ran");
});
