// Type-level tests: they pass when `deno check` / `deno test` type-check
// this file. Each `assertType<IsExact<A, B>>(true)` fails to compile unless A
// and B are the same type, and each `// @ts-expect-error` fails to compile
// unless the line below it is a type error. The runtime part only makes sure
// the servers build and a session opens (its ctx from the context factory).
import assert from "node:assert/strict";
import { HttpError } from "../src/errors.ts";
import type { PublishResult } from "../src/fanout.ts";
import { Server } from "../src/server.ts";
import type { CloseCause, SendResult, Session } from "../src/session.ts";
import type { StandardSchemaV1 } from "../src/standard_schema.ts";
import { defineContract, type } from "../src/contract.ts";
import type { EventMap, Message } from "../src/topics.ts";
import { openSession } from "./_fake_socket.ts";

/** `true` if A and B are the same type, `false` otherwise. */
type IsExact<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? ((<T>() => T extends B ? 1 : 2) extends (<T>() => T extends A ? 1 : 2) ? true : false)
  : false;

/** Compiles only if `T` is `true` when called with `true`. */
function assertType<T extends boolean>(_expectTrue: T): void {}

interface User {
  id: number;
  name: string;
}

Deno.test("IsExact tells types apart", () => {
  assertType<IsExact<string, string>>(true);
  assertType<IsExact<{ a: 1 }, { a: 1 }>>(true);
  assertType<IsExact<string, "a">>(false);
  // deno-lint-ignore no-explicit-any
  assertType<IsExact<unknown, any>>(false);
  assertType<IsExact<undefined, void>>(false);
  assertType<IsExact<{ a?: 1 }, { a: 1 | undefined }>>(false);
  // @ts-expect-error: the helper itself rejects a mismatch
  assertType<IsExact<string, number>>(true);
});

Deno.test("ctx is inferred from a synchronous context factory", async () => {
  const server = new Server({
    context(request) {
      assertType<IsExact<typeof request, Request>>(true);
      return { user: { id: 1, name: "ada" } as User, admin: false };
    },
    onConnect(session) {
      assertType<IsExact<typeof session.ctx, { user: User; admin: boolean }>>(true);
    },
    onMessage(session, message) {
      assertType<IsExact<typeof session.ctx, { user: User; admin: boolean }>>(true);
      assertType<IsExact<typeof message.topic, string>>(true);
      assertType<IsExact<typeof message.data, unknown>>(true);
    },
    onClose(session, cause) {
      assertType<IsExact<typeof session.ctx.user, User>>(true);
      assertType<IsExact<typeof cause, CloseCause>>(true);
    },
  });
  assertType<IsExact<typeof server, Server<{ user: User; admin: boolean }>>>(true);
  const { session } = await openSession(server);
  assertType<IsExact<typeof session.ctx, { user: User; admin: boolean }>>(true);
  for (const each of server.sessions.values()) {
    assertType<IsExact<typeof each.ctx.admin, boolean>>(true);
  }
  assert.equal(session.ctx.user.name, "ada");
  session.close();
});

Deno.test("ctx is inferred from an async context factory", () => {
  const server = new Server({
    async context(request) {
      await Promise.resolve();
      return { token: new URL(request.url).searchParams.get("token") };
    },
    onConnect(session) {
      assertType<IsExact<typeof session.ctx, { token: string | null }>>(true);
    },
    onBinary(session, data) {
      assertType<IsExact<typeof session.ctx.token, string | null>>(true);
      assertType<IsExact<typeof data, Uint8Array<ArrayBuffer>>>(true);
    },
  });
  assertType<IsExact<typeof server, Server<{ token: string | null }>>>(true);
  assert.ok(server);
});

Deno.test("ctx leaves out the Response a context factory may return", () => {
  const server = new Server({
    context(request) {
      const name = new URL(request.url).searchParams.get("name");
      if (name === null) return new Response("who?", { status: 401 });
      if (name === "") throw new HttpError(400);
      return { name };
    },
    onMessage(session) {
      assertType<IsExact<typeof session.ctx, { name: string }>>(true);
    },
  });
  assertType<IsExact<typeof server, Server<{ name: string }>>>(true);

  const asyncServer = new Server({
    context: (request: Request) =>
      Promise.resolve(
        request.headers.has("x-ok") ? { ok: true as const } : new Response(null, { status: 403 }),
      ),
    onConnect(session) {
      assertType<IsExact<typeof session.ctx, { ok: true }>>(true);
    },
  });
  assertType<IsExact<typeof asyncServer, Server<{ ok: true }>>>(true);
  assert.ok(asyncServer);
});

Deno.test("A server without a context factory has ctx undefined", async () => {
  const server = new Server({
    onConnect(session) {
      assertType<IsExact<typeof session.ctx, undefined>>(true);
    },
  });
  assertType<IsExact<typeof server, Server<undefined>>>(true);
  const bare = new Server();
  assertType<IsExact<typeof bare, Server<undefined, EventMap, EventMap>>>(true);
  const { session } = await openSession(bare);
  assertType<IsExact<typeof session.ctx, undefined>>(true);
  assert.equal(session.ctx, undefined);
  session.close();
});

type In = {
  say: { text: string };
  typing: boolean;
  ping: undefined;
};
type Out = {
  said: { from: string; text: string };
  presence: { user: string; online: boolean };
};

/** The contract of `In` and `Out` with types alone. */
const typesOnly = defineContract({
  client: { say: type<In["say"]>(), typing: type<In["typing"]>(), ping: type<In["ping"]>() },
  server: { said: type<Out["said"]>(), presence: type<Out["presence"]>() },
});

Deno.test("A contract of type<T>() markers types session.send and server.publish", () => {
  const server = new Server({
    contract: typesOnly,
    context: () => ({ name: "ada" }),
    onConnect(session) {
      assertType<IsExact<typeof session.ctx, { name: string }>>(true);
      const result = session.send("presence", { user: session.ctx.name, online: true });
      assertType<IsExact<typeof result, SendResult>>(true);
      // @ts-expect-error: not an outbound topic
      session.send("say", { text: "hi" });
      // @ts-expect-error: wrong data for the topic
      session.send("presence", { user: "ada" });
      // @ts-expect-error: wrong data type for the topic
      session.send("said", { from: "ada", text: 1 });
    },
  });
  assertType<IsExact<typeof server, Server<{ name: string }, In, Out>>>(true);
  const published = server.publish("lobby", "said", { from: "ada", text: "hi" });
  assertType<IsExact<typeof published, PublishResult>>(true);
  // @ts-expect-error: not an outbound topic
  server.publish("lobby", "typing", true);
  // @ts-expect-error: wrong data for the topic
  server.publish("lobby", "said", { from: "ada" });
  server.broadcast("presence", { user: "ada", online: false });
  // @ts-expect-error: wrong data for the topic
  server.broadcast("presence", "ada");
  assert.equal(published.recipients, 0);
});

Deno.test("A contract of type<T>() markers narrows message.data by message.topic in onMessage", () => {
  const server = new Server({
    contract: typesOnly,
    onMessage(session, message) {
      assertType<IsExact<typeof message, Message<In>>>(true);
      assertType<IsExact<typeof message.topic, "say" | "typing" | "ping">>(true);
      assertType<IsExact<typeof session.ctx, undefined>>(true);
      switch (message.topic) {
        case "say":
          assertType<IsExact<typeof message.data, { text: string }>>(true);
          break;
        case "typing":
          assertType<IsExact<typeof message.data, boolean>>(true);
          break;
        case "ping":
          assertType<IsExact<typeof message.data, undefined>>(true);
          break;
        default:
          assertType<IsExact<typeof message, never>>(true);
      }
      // @ts-expect-error: not an inbound topic
      if (message.topic === "said") return;
    },
  });
  assert.ok(server);
});

interface InIface {
  join: { room: string };
}
interface OutIface {
  joined: { room: string; user: string };
}

Deno.test("type<T>() takes interfaces", async () => {
  const server = new Server({
    contract: defineContract({
      client: { join: type<InIface["join"]>() },
      server: { joined: type<OutIface["joined"]>() },
    }),
    context: () => ({ user: "ada" }),
    onMessage(session, message) {
      assertType<IsExact<typeof message.topic, "join">>(true);
      assertType<IsExact<typeof message.data, { room: string }>>(true);
      session.send("joined", { room: message.data.room, user: session.ctx.user });
      // @ts-expect-error: not an outbound topic
      session.send("join", { room: "x" });
    },
  });
  assertType<IsExact<typeof server, Server<{ user: string }, InIface, OutIface>>>(true);
  const { session } = await openSession(server);
  assertType<IsExact<typeof session, Session<{ user: string }, InIface, OutIface>>>(true);
  assert.equal(session.ctx.user, "ada");
  const result = server.sendTo([session], "joined", { room: "r", user: "ada" });
  assertType<IsExact<typeof result, PublishResult>>(true);
  // @ts-expect-error: wrong data for the topic
  server.sendTo([session], "joined", { room: "r" });
  assert.equal(result.sent, 1);
  session.close();
});

Deno.test("Session and Server type parameters default to an untyped event map", async () => {
  const server = new Server({ context: () => 1 });
  const { session } = await openSession(server);
  assertType<IsExact<typeof session, Session<number, EventMap, EventMap>>>(true);
  assert.equal(session.ctx, 1);
  session.send("anything", { at: "all" });
  server.publish("room", "anything", [1, 2, 3]);
  // @ts-expect-error: topics are strings (and at run time a TypeError)
  assert.throws(() => session.send(1, null), TypeError);
  session.close();
});

// ---------------------------------------------------------------- contracts with schemas

/** A schema whose input and output types differ: a string in, a number out. */
const length = {
  "~standard": {
    version: 1 as const,
    vendor: "tests",
    validate: (v: unknown) =>
      typeof v === "string" ? { value: v.length } : { issues: [{ message: "Not a string" }] },
    types: undefined as unknown as { input: string; output: number },
  },
} satisfies StandardSchemaV1<string, number>;
const point = type<{ x: number; y: number }>();

const schemas = defineContract({
  client: { name: length, move: point },
  server: { size: length, moved: point },
  requests: {
    measure: { input: length, output: length },
    locate: { input: type<string>(), output: point },
  },
});

Deno.test("defineContract() carries each schema's types: client outputs, server inputs", () => {
  type C = NonNullable<typeof schemas.types>;
  assertType<IsExact<C["client"], { name: number; move: { x: number; y: number } }>>(true);
  assertType<IsExact<C["server"], { size: string; moved: { x: number; y: number } }>>(true);
  assertType<
    IsExact<
      C["requests"],
      {
        measure: { input: number; output: string };
        locate: { input: string; output: { x: number; y: number } };
      }
    >
  >(true);
  assert.ok(schemas);
});

Deno.test("onMessage gets each client topic's schema output", () => {
  const server = new Server({
    contract: schemas,
    requests: { measure: (_, n) => String(n), locate: () => ({ x: 0, y: 0 }) },
    onMessage(_session, message) {
      assertType<IsExact<typeof message.topic, "name" | "move">>(true);
      if (message.topic === "name") {
        assertType<IsExact<typeof message.data, number>>(true); // the output, not the string sent
      } else {
        assertType<IsExact<typeof message.data, { x: number; y: number }>>(true);
      }
      // @ts-expect-error: a server topic is not an inbound topic
      if (message.topic === "size") return;
    },
  });
  assert.ok(server);
});

Deno.test("send and publish take only server topics, with each schema's input", () => {
  const server = new Server({
    contract: schemas,
    requests: { measure: (_, n) => String(n), locate: () => ({ x: 0, y: 0 }) },
    onConnect(session) {
      session.send("size", "a string, the schema's input");
      session.send("moved", { x: 1, y: 2 });
      // @ts-expect-error: the schema's output is not what it accepts
      session.send("size", 3);
      // @ts-expect-error: a client topic is not an outbound topic
      session.send("name", "x");
      // @ts-expect-error: not a topic of the contract
      session.send("nope", 1);
      // @ts-expect-error: wrong payload
      session.send("moved", { x: 1 });
    },
  });
  server.publish("room", "moved", { x: 1, y: 2 });
  server.broadcast("size", "x");
  // @ts-expect-error: wrong payload
  server.publish("room", "moved", { x: "1", y: 2 });
  // @ts-expect-error: not a server topic
  server.broadcast("move", { x: 1, y: 2 });
  // @ts-expect-error: wrong payload
  server.sendTo([], "size", 1);
  assert.ok(server);
});

Deno.test("request handlers get the input's output type and must return the output's input type", () => {
  const server = new Server({
    contract: schemas,
    context: () => ({ user: "ada" }),
    requests: {
      measure(session, input) {
        assertType<IsExact<typeof session.ctx, { user: string }>>(true);
        assertType<IsExact<typeof input, number>>(true);
        return "x".repeat(input);
      },
      async locate(_session, input) {
        assertType<IsExact<typeof input, string>>(true);
        await Promise.resolve();
        return { x: input.length, y: 0 };
      },
    },
  });
  assert.ok(server);

  new Server({
    contract: schemas,
    requests: {
      // @ts-expect-error: must return a string (the output schema's input)
      measure: (_session, input) => input,
      // @ts-expect-error: must resolve to a point
      locate: () => Promise.resolve({ x: 1 }),
    },
  });
  assert.throws(() =>
    new Server({
      contract: schemas,
      requests: {
        measure: (_, n) => String(n),
        locate: () => ({ x: 0, y: 0 }),
        // @ts-expect-error: not a request of the contract
        unknown: () => 1,
      },
    }), TypeError);
  assert.throws(() =>
    new Server({
      contract: schemas,
      // @ts-expect-error: the handler of "locate" is missing
      requests: { measure: (_, n) => String(n) },
    }), TypeError);
});

Deno.test("a server without a contract takes no request handlers", () => {
  // @ts-expect-error: there is no request to handle
  assert.throws(() => new Server({ requests: { anything: () => 1 } }), TypeError);
});
