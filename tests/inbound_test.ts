/**
 * The inbound side (`src/inbound.ts`), on the fake socket and fake timers:
 * the rate limit, handler slots and the ordered backlog.
 */
import assert from "node:assert/strict";
import { Server, type ServerOptions } from "../src/server.ts";
import { ERROR_TOPIC } from "../src/session.ts";
import type { EventMap } from "../src/topics.ts";
import { FakeTimers, fakeUpgrade, openSession, upgradeRequest } from "./_fake_socket.ts";

type Options = ServerOptions<undefined, EventMap, EventMap>;

function setup(options: Options = {}) {
  const timers = new FakeTimers();
  const fake = fakeUpgrade();
  const rejected: string[] = [];
  const errors: unknown[] = [];
  const server = new Server<undefined, EventMap, EventMap>({
    timers,
    upgrade: fake.upgrade,
    onRejectedMessage: (_, reason) => void rejected.push(reason),
    onError: (error) => void errors.push(error),
    ...options,
  });
  return { server, timers, calls: fake.calls, rejected, errors };
}

function withOrigin(origin: string | undefined, host = "app.example.com"): Request {
  return upgradeRequest(`http://${host}/ws`, {
    host,
    ...(origin === undefined ? {} : { origin }),
  });
}

async function status(server: Server<undefined, EventMap, EventMap>, request: Request) {
  const response = await server.fetch(request, { remoteAddr: { hostname: "10.0.0.1" } });
  await response.body?.cancel();
  return response.status;
}

// ---------------------------------------------------------------- origins

Deno.test("The rate limit rejects messages past the burst, answers once per run, and refills", () => {
  const messages: unknown[] = [];
  const { server, timers, rejected } = setup({
    rateLimit: { rate: 10, burst: 3 },
    onMessage: (_, message) => void messages.push(message.data),
  });
  const { connection, socket, session } = openSession(server);
  for (let i = 0; i < 6; i++) connection.message(JSON.stringify({ topic: "m", data: i }));
  assert.deepEqual(messages, [0, 1, 2]);
  assert.deepEqual(rejected, ["rate-limited", "rate-limited", "rate-limited"]);
  assert.deepEqual(socket.texts(), [{
    topic: ERROR_TOPIC,
    data: { code: "rate-limited", message: "Message rejected: rate limit exceeded" },
  }]);
  assert.equal(session.stats.messagesRejected, 3);
  assert.equal(server.stats.messagesRejected, 3);
  timers.tick(100); // 10 per second: one token back
  connection.message('{"topic":"m","data":6}');
  connection.message('{"topic":"m","data":7}');
  assert.deepEqual(messages, [0, 1, 2, 6]);
  assert.equal(socket.texts().length, 2, "a new run of rejections is answered again");
});

Deno.test("A client that keeps breaking the rate limit is closed with 1008", () => {
  const { server } = setup({ rateLimit: { rate: 1, burst: 1, closeAfter: 5 } });
  const { connection, session, socket } = openSession(server, { closeReport: "sync" });
  for (let i = 0; i < 10; i++) connection.message('{"topic":"m"}');
  assert.deepEqual(socket.closes, [{ code: 1008, reason: "Rate limit exceeded" }]);
  assert.equal(session.closeCause?.kind, "policy");
  assert.equal(session.stats.messagesRejected, 5, "nothing is counted after the close");
});

Deno.test("rateLimit: false lets every message through", () => {
  let count = 0;
  const { server } = setup({ rateLimit: false, onMessage: () => void count++ });
  const { connection } = openSession(server);
  for (let i = 0; i < 1000; i++) connection.message('{"topic":"m"}');
  assert.equal(count, 1000);
});

// ---------------------------------------------------------------- handler concurrency

/** A promise the test settles by hand. */
function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

Deno.test("Async handlers run one at a time per session, in arrival order", async () => {
  const started: unknown[] = [];
  const gates: ReturnType<typeof deferred>[] = [];
  const { server, errors } = setup({
    rateLimit: false,
    onMessage(_, message) {
      started.push(message.data);
      const gate = deferred();
      gates.push(gate);
      return gate.promise;
    },
  });
  const { connection, session } = openSession(server);
  for (let i = 0; i < 4; i++) connection.message(JSON.stringify({ topic: "m", data: i }));
  assert.deepEqual(started, [0]);
  assert.equal(session.stats.pendingMessages, 3);
  gates[0].resolve();
  await gates[0].promise;
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  gates[1].reject(new Error("handler failed")); // a failure frees the slot too
  await gates[1].promise.catch(() => {});
  await Promise.resolve();
  assert.deepEqual(started, [0, 1, 2]);
  gates[2].resolve();
  await gates[2].promise;
  await Promise.resolve();
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.deepEqual(errors.map((e) => (e as Error).message), ["handler failed"]);
  gates[3].resolve();
});

Deno.test("maxConcurrentHandlers lets that many async handlers overlap", () => {
  let running = 0;
  let most = 0;
  const gates: ReturnType<typeof deferred>[] = [];
  const { server } = setup({
    rateLimit: false,
    maxConcurrentHandlers: 3,
    onMessage() {
      most = Math.max(most, ++running);
      const gate = deferred();
      gates.push(gate);
      return gate.promise.finally(() => running--);
    },
  });
  const { connection, session } = openSession(server);
  for (let i = 0; i < 5; i++) connection.message('{"topic":"m"}');
  assert.equal(most, 3);
  assert.equal(session.stats.pendingMessages, 2);
  for (const gate of gates) gate.resolve();
});

Deno.test("A full handler backlog rejects with busy, and a closed session counts what waited", () => {
  const { server, rejected } = setup({
    rateLimit: false,
    maxPendingMessages: 2,
    onMessage: () => new Promise<void>(() => {}), // never settles
  });
  const { connection, session, socket } = openSession(server, { closeReport: "sync" });
  for (let i = 0; i < 5; i++) connection.message('{"topic":"m"}');
  assert.equal(session.stats.pendingMessages, 2);
  assert.deepEqual(rejected, ["busy", "busy"]);
  assert.equal(
    socket.texts().filter((m) => (m as { topic: string }).topic === ERROR_TOPIC).length,
    2,
  );
  session.close();
  assert.equal(session.stats.messagesRejected, 4, "2 busy + 2 that never reached a handler");
});

Deno.test("maxPendingBytes bounds the backlog by memory", () => {
  const { server, rejected } = setup({
    rateLimit: false,
    maxPendingBytes: 100,
    onMessage: () => new Promise<void>(() => {}),
  });
  const { connection, session } = openSession(server);
  connection.message('{"topic":"m"}'); // runs
  connection.message(`{"topic":"m","data":"${"x".repeat(20)}"}`); // 38 units: 76 bytes held
  connection.message(`{"topic":"m","data":"${"x".repeat(20)}"}`); // would be 152: busy
  assert.equal(session.stats.pendingMessages, 1);
  assert.deepEqual(rejected, ["busy"]);
});

Deno.test("Sync handlers never wait, whatever the backlog settings", () => {
  let count = 0;
  const { server } = setup({
    rateLimit: false,
    maxPendingMessages: 1,
    onMessage: () => void count++,
  });
  const { connection } = openSession(server);
  for (let i = 0; i < 100; i++) connection.message('{"topic":"m"}');
  assert.equal(count, 100);
});

