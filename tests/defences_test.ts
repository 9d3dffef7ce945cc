/**
 * The defences against hostile and faulty clients, on the fake socket and
 * fake timers: the origin check, session caps, the context timeout, the
 * inbound rate limit and the handler concurrency cap.
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

Deno.test("An origin allow-list admits exact origins only, before the context factory", async (t) => {
  let contexts = 0;
  const { server } = setup({
    origins: ["https://app.example.com", "http://localhost:8000"],
    context: () => void contexts++,
  });
  const table: [string | undefined, number][] = [
    ["https://app.example.com", 101],
    ["https://APP.Example.com", 101], // hosts compare case-insensitively
    ["https://app.example.com:443", 101], // the default port is the same origin
    ["http://localhost:8000", 101],
    ["https://app.example.com.evil.com", 403],
    ["https://evil-app.example.com", 403],
    ["https://evil.com/https://app.example.com", 403],
    ["http://app.example.com", 403], // another scheme is another origin
    ["https://app.example.com:8443", 403],
    ["null", 403],
    ["not a url", 403],
    ["", 403],
    [undefined, 101], // not a browser: allowed by default
  ];
  for (const [origin, expected] of table) {
    await t.step(
      `${origin === undefined ? "no Origin" : JSON.stringify(origin)} -> ${expected}`,
      async () => {
        const before = contexts;
        assert.equal(await status(server, withOrigin(origin)), expected);
        assert.equal(
          contexts - before,
          expected === 101 ? 1 : 0,
          "the factory ran only if allowed",
        );
      },
    );
  }
});

Deno.test("allowMissingOrigin: false refuses requests without an Origin", async () => {
  const { server } = setup({ origins: ["https://app.example.com"], allowMissingOrigin: false });
  assert.equal(await status(server, withOrigin(undefined)), 403);
  assert.equal(await status(server, withOrigin("https://app.example.com")), 101);
});

Deno.test("The default origin check admits the request's own host only", async () => {
  const { server } = setup();
  assert.equal(await status(server, withOrigin("https://app.example.com")), 101);
  assert.equal(await status(server, withOrigin("http://app.example.com")), 101);
  assert.equal(await status(server, withOrigin("https://APP.example.com")), 101);
  assert.equal(
    await status(server, withOrigin("https://app.example.com", "app.example.com:443")),
    101,
  );
  assert.equal(
    await status(server, withOrigin("http://127.0.0.1:8000", "127.0.0.1:8000")),
    101,
  );
  assert.equal(await status(server, withOrigin("https://evil.com")), 403);
  assert.equal(await status(server, withOrigin("https://app.example.com.evil.com")), 403);
  assert.equal(
    await status(server, withOrigin("http://127.0.0.1:9000", "127.0.0.1:8000")),
    403,
  );
  assert.equal(await status(server, withOrigin("null")), 403);
  assert.equal(await status(server, withOrigin(undefined)), 101);
});

Deno.test('origins: "*" admits any origin', async () => {
  const { server } = setup({ origins: "*" });
  assert.equal(await status(server, withOrigin("https://anywhere.test")), 101);
  assert.equal(await status(server, withOrigin("null")), 101);
});

Deno.test("An origin list entry that is not an origin is a RangeError", () => {
  assert.throws(() => new Server({ origins: ["app.example.com"] }), RangeError);
  assert.throws(() => new Server({ origins: "any" as "*" }), RangeError);
});

// ---------------------------------------------------------------- caps

Deno.test("maxSessions counts handshakes under way and refuses with 503", async () => {
  const { server, calls } = setup({ maxSessions: 2, maxSessionsPerClient: 10 });
  assert.equal(await status(server, upgradeRequest()), 101);
  assert.equal(await status(server, upgradeRequest()), 101);
  // Neither socket has opened yet, and still a third is refused.
  assert.equal(await status(server, upgradeRequest()), 503);
  calls[0].socket.fireOpen();
  const [session] = server.sessions.values();
  session.close();
  calls[0].socket.fireClose(1000);
  assert.equal(await status(server, upgradeRequest()), 101, "a released session frees its place");
  // A socket that never opens gives its place back when it closes.
  calls[1].socket.fireClose(1006, "", false);
  assert.equal(await status(server, upgradeRequest()), 101);
  assert.equal(await status(server, upgradeRequest()), 503);
});

Deno.test("maxSessionsPerClient refuses with 429 by client key", async () => {
  const { server } = setup({
    maxSessionsPerClient: 2,
    clientKey: (request) => request.headers.get("x-user") ?? "",
  });
  const as = (user: string) => upgradeRequest(undefined, { "x-user": user });
  assert.equal(await status(server, as("a")), 101);
  assert.equal(await status(server, as("a")), 101);
  assert.equal(await status(server, as("a")), 429);
  assert.equal(await status(server, as("b")), 101, "another key has its own count");
  assert.equal(server.stats.rejected, 1);
});

Deno.test("A refused context factory gives its admission back", async () => {
  const { server } = setup({
    maxSessions: 1,
    context: (request) => {
      if (request.headers.has("x-deny")) throw new Error("no");
    },
  });
  for (let i = 0; i < 3; i++) {
    assert.equal(await status(server, upgradeRequest(undefined, { "x-deny": "1" })), 401);
  }
  assert.equal(await status(server, upgradeRequest()), 101);
});

Deno.test("A context factory slower than handshakeTimeout gets 503", async () => {
  const { server, timers } = setup({
    handshakeTimeout: 100,
    maxSessions: 1,
    context: () => new Promise<undefined>(() => {}), // never settles
  });
  const response = server.fetch(upgradeRequest());
  await Promise.resolve();
  assert.deepEqual(timers.delays(), [100]);
  timers.tick(100);
  const answer = await response;
  assert.equal(answer.status, 503);
  assert.equal(await answer.text(), "The context factory timed out");
  assert.equal(timers.pending, 0);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A context factory that answers in time leaves no timer behind", async () => {
  const { server, timers } = setup({
    handshakeTimeout: 100,
    context: () => Promise.resolve(undefined),
  });
  assert.equal(await status(server, upgradeRequest()), 101);
  assert.equal(timers.pending, 0);
});

// ---------------------------------------------------------------- rate limit

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

Deno.test("A session released before its connection closed keeps counting toward the caps", async () => {
  const { server, timers, calls } = setup({ maxSessions: 1, closeTimeout: 1000 });
  assert.equal(await status(server, upgradeRequest()), 101);
  calls[0].socket.fireOpen();
  const [session] = server.sessions.values();
  const closed = session.close(4000, "bye");
  timers.tick(1000); // the peer never answers the close
  assert.equal((await closed).forced, true);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.lingering, 1);
  assert.equal(await status(server, upgradeRequest()), 503, "its connection still holds a place");
  calls[0].socket.fireClose(1006, "", false); // the runtime lets go at last
  assert.equal(server.stats.lingering, 0);
  assert.equal(await status(server, upgradeRequest()), 101);
});
