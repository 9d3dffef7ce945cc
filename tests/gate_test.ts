/**
 * The gate (`src/gate.ts`), on fake timers and a fake upgrade: the origin
 * check, session caps and admissions, the context factory and its timeout,
 * refusals.
 */
import assert from "node:assert/strict";
import { HttpError } from "../src/errors.ts";
import type { ServerOptions } from "../src/options.ts";
import { Server } from "../src/server.ts";
import type { EventMap } from "../src/topics.ts";
import { FakeTimers, fakeUpgrade, upgradeRequest } from "./_fake_socket.ts";

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

Deno.test("lowerMaxSessions() lowers the cap for later upgrades, never raises it, keeps open sessions", async () => {
  const refusals: string[] = [];
  const { server } = setup({
    maxSessions: 5,
    maxSessionsPerClient: 10,
    onRefuse: (_, refusal) => void refusals.push(`${refusal.status} ${refusal.reason}`),
  });
  assert.equal(await status(server, upgradeRequest()), 101);
  assert.equal(await status(server, upgradeRequest()), 101);
  assert.equal(server.lowerMaxSessions(1), 1, "the cap in force");
  assert.equal(await status(server, upgradeRequest()), 503, "two places taken, one allowed");
  assert.equal(server.lowerMaxSessions(3), 1, "a higher value changes nothing");
  assert.deepEqual(refusals, ["503 server-full"]);
  assert.equal(server.stats.rejected, 1);
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => server.lowerMaxSessions(bad), RangeError);
  }
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
      if (request.headers.has("x-deny")) throw new HttpError(401, "no");
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
