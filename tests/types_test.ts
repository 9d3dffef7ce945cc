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
import { defineTopics, type EventMap, type Message } from "../src/topics.ts";
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

Deno.test("defineTopics<In, Out>() types session.send and server.publish", () => {
  const server = new Server({
    topics: defineTopics<In, Out>(),
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

Deno.test("defineTopics<In, Out>() narrows message.data by message.topic in onMessage", () => {
  const server = new Server({
    topics: defineTopics<In, Out>(),
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

Deno.test("Topic maps may be interfaces", async () => {
  const server = new Server({
    topics: defineTopics<InIface, OutIface>(),
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
