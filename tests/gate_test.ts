/**
 * The gate (`src/gate.ts`), on fake timers and a fake upgrade: what
 * `server.fetch()` and `server.handshake()` accept or refuse before the
 * upgrade. The origin check, the session caps and their admissions, client
 * keys, and `onRefuse`. The context factory and the subprotocol choice are
 * in `context_test.ts`.
 */
import assert from "node:assert/strict";
import { HttpError } from "../src/errors.ts";
import type { Refusal, ServerOptions } from "../src/options.ts";
import { Server } from "../src/server.ts";
import type { EventMap } from "../src/topics.ts";
import { CLIENT, endOfTick, FakeSocket, setup, upgradeRequest } from "./_fake_socket.ts";

type Options<Ctx> = ServerOptions<Ctx, EventMap, EventMap>;

/** An upgrade request to `host`, with that `Origin` if any. */
function withOrigin(origin: string | undefined, host = "app.example.com"): Request {
  return upgradeRequest(`http://${host}/ws`, {
    host,
    ...(origin === undefined ? {} : { origin }),
  });
}

// ---------------------------------------------------------------- origins

Deno.test("An origin allow-list admits exact origins only, before the context factory", async (t) => {
  let contexts = 0;
  const { status } = setup({
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
        assert.equal(await status(withOrigin(origin)), expected);
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
  const { status } = setup({ origins: ["https://app.example.com"], allowMissingOrigin: false });
  assert.equal(await status(withOrigin(undefined)), 403);
  assert.equal(await status(withOrigin("https://app.example.com")), 101);
});

Deno.test("The default origin check admits the request's own host only", async () => {
  const { status } = setup();
  assert.equal(await status(withOrigin("https://app.example.com")), 101);
  assert.equal(await status(withOrigin("http://app.example.com")), 101);
  assert.equal(await status(withOrigin("https://APP.example.com")), 101);
  assert.equal(
    await status(withOrigin("https://app.example.com", "app.example.com:443")),
    101,
  );
  assert.equal(
    await status(withOrigin("http://127.0.0.1:8000", "127.0.0.1:8000")),
    101,
  );
  assert.equal(await status(withOrigin("https://evil.com")), 403);
  assert.equal(await status(withOrigin("https://app.example.com.evil.com")), 403);
  assert.equal(
    await status(withOrigin("http://127.0.0.1:9000", "127.0.0.1:8000")),
    403,
  );
  assert.equal(await status(withOrigin("null")), 403);
  assert.equal(await status(withOrigin(undefined)), 101);
});

Deno.test('origins: "*" admits any origin', async () => {
  const { status } = setup({ origins: "*" });
  assert.equal(await status(withOrigin("https://anywhere.test")), 101);
  assert.equal(await status(withOrigin("null")), 101);
});

Deno.test("An origin list entry that is not an origin is a RangeError", () => {
  assert.throws(() => new Server({ origins: ["app.example.com"] }), RangeError);
  assert.throws(() => new Server({ origins: "any" as "*" }), RangeError);
});

// ---------------------------------------------------------------- caps

Deno.test("maxSessions counts handshakes under way and refuses with 503", async () => {
  const { server, calls, status } = setup({ maxSessions: 2, maxSessionsPerClient: 10 });
  assert.equal(await status(), 101);
  assert.equal(await status(), 101);
  // Neither socket has opened yet, and still a third is refused.
  assert.equal(await status(), 503);
  calls[0].socket.fireOpen();
  const [session] = server.sessions.values();
  session.close();
  calls[0].socket.fireClose(1000);
  assert.equal(await status(), 101, "a released session frees its place");
  // A socket that never opens gives its place back when it closes.
  calls[1].socket.fireClose(1006, "", false);
  assert.equal(await status(), 101);
  assert.equal(await status(), 503);
});

Deno.test("lowerMaxSessions() lowers the cap for later upgrades, never raises it, keeps open sessions", async () => {
  const { server, status, refusals } = setup({ maxSessions: 5, maxSessionsPerClient: 10 });
  assert.equal(await status(), 101);
  assert.equal(await status(), 101);
  assert.equal(server.lowerMaxSessions(1), 1, "the cap in force");
  assert.equal(await status(), 503, "two places taken, one allowed");
  assert.equal(server.lowerMaxSessions(3), 1, "a higher value changes nothing");
  assert.deepEqual(refusals.map(([, r]) => `${r.status} ${r.reason}`), ["503 server-full"]);
  assert.equal(server.stats.rejected, 1);
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => server.lowerMaxSessions(bad), RangeError);
  }
});

Deno.test("maxSessionsPerClient refuses with 429 by client key", async () => {
  const { server, status } = setup({
    maxSessionsPerClient: 2,
    clientKey: (request) => request.headers.get("x-user") ?? "",
  });
  const as = (user: string) => upgradeRequest(undefined, { "x-user": user });
  assert.equal(await status(as("a")), 101);
  assert.equal(await status(as("a")), 101);
  assert.equal(await status(as("a")), 429);
  assert.equal(await status(as("b")), 101, "another key has its own count");
  assert.equal(server.stats.rejected, 1);
});

Deno.test("Upgrades from the runtime's client address are capped per client", async () => {
  const { errors, status } = setup({ maxSessionsPerClient: 2 });
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push(await status());
  assert.deepEqual(statuses, [101, 101, 429, 429, 429]);
  assert.equal(await status(upgradeRequest(), { remoteAddr: { hostname: "10.0.0.2" } }), 101);
  assert.deepEqual(errors, []);
});

Deno.test("Upgrades without a client key skip maxSessionsPerClient, count toward maxSessions, and onError hears of it once", async () => {
  const { server, errors } = setup({ maxSessions: 6, maxSessionsPerClient: 2 });
  const requests = Array.from({ length: 5 }, () => upgradeRequest());
  for (const request of requests) {
    assert.equal((await server.fetch(request)).status, 101, "no info: no key");
  }
  assert.equal(errors.length, 1);
  assert.match(String(errors[0].error), /no client key, so maxSessionsPerClient does not apply/);
  assert.deepEqual([errors[0].session, errors[0].request], [undefined, requests[0]]);
  assert.equal(server.stats.handshakes, 5);
  assert.equal((await server.fetch(upgradeRequest(), CLIENT)).status, 101, "a keyed one fits");
  const full = await server.fetch(upgradeRequest());
  assert.equal(full.status, 503, "maxSessions still applies");
  await full.body?.cancel();
  assert.equal(errors.length, 1, "told once per server");
});

Deno.test("Without a cap per client, clientKey is not asked and nothing is said of keyless upgrades", async () => {
  let asked = 0;
  const { server, errors } = setup({
    maxSessionsPerClient: Infinity,
    clientKey: () => (asked++, "same"),
  });
  for (let i = 0; i < 3; i++) assert.equal((await server.fetch(upgradeRequest())).status, 101);
  assert.equal((await server.fetch(upgradeRequest(), CLIENT)).status, 101);
  assert.equal(asked, 0);
  assert.deepEqual(errors, []);
  assert.equal(server.stats.handshakes, 4);
});

Deno.test("A clientKey that returns undefined or an empty string gives no key", async () => {
  for (const key of [undefined, ""]) {
    const { errors, status } = setup({ maxSessionsPerClient: 1, clientKey: () => key });
    assert.deepEqual([await status(), await status(), await status()], [101, 101, 101]);
    assert.equal(errors.length, 1);
  }
});

Deno.test("A session released before its connection closed keeps counting toward the caps", async () => {
  const { server, timers, calls, status } = setup({ maxSessions: 1, closeTimeout: 1000 });
  assert.equal(await status(), 101);
  calls[0].socket.fireOpen();
  const [session] = server.sessions.values();
  const closed = session.close(4000, "bye");
  timers.tick(1000); // the peer never answers the close
  assert.equal((await closed).forced, true);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.lingering, 1);
  assert.equal(await status(), 503, "its connection still holds a place");
  calls[0].socket.fireClose(1006, "", false); // the runtime lets go at last
  assert.equal(server.stats.lingering, 0);
  assert.equal(await status(), 101);
});

// ---------------------------------------------------------------- onRefuse

/** A hook that throws `error`. */
const throwing = (error: unknown) => (): never => {
  throw error;
};

Deno.test("onRefuse hears of every refusal with its status and reason", async (t) => {
  const evil = upgradeRequest(undefined, { origin: "https://evil.com" });
  const broken = upgradeRequest(undefined, { connection: "keep-alive" });
  const teapot = () => new Response(null, { status: 418, statusText: "Teapot" });
  const never = () => new Promise<undefined>(() => {});
  const table: [Refusal["reason"], number, string, Options<undefined>, Request?][] = [
    ["shutting-down", 503, "Server is shutting down", {}],
    [
      "bad-handshake",
      400,
      "Bad WebSocket handshake: the 'connection' header must contain 'Upgrade'",
      {},
      broken,
    ],
    ["origin", 403, "Origin not allowed: https://evil.com", {
      origins: ["https://app.example.com"],
    }, evil],
    ["server-full", 503, "Too many sessions", { maxSessions: 1 }],
    ["client-full", 429, "Too many sessions from this client", { maxSessionsPerClient: 1 }],
    ["context", 418, "Teapot", { context: teapot }],
    ["context", 403, "Unknown token", { context: throwing(new HttpError(403, "Unknown token")) }],
    ["context-timeout", 503, "The context factory timed out", {
      context: never,
      handshakeTimeout: 100,
    }],
    ["context-error", 500, "Internal Server Error", { context: throwing(new TypeError("bug")) }],
    ["upgrade-failed", 400, "Bad WebSocket handshake: no socket", {
      upgrade: throwing(new TypeError("no socket")),
    }],
  ];
  for (const [reason, status, message, options, request = upgradeRequest()] of table) {
    await t.step(`${reason} ${status}`, async () => {
      const { server, timers, refusals } = setup(options);
      if (reason === "shutting-down") await server.shutdown();
      if (reason.endsWith("-full")) await server.handshake(upgradeRequest(), CLIENT); // fills it
      const pending = server.fetch(request, CLIENT);
      timers.tick(100);
      const response = await pending;
      assert.equal(response.status, status);
      await response.body?.cancel();
      assert.deepEqual(refusals, [[request, { status, reason, message }]]);
      assert.equal(server.stats.rejected, 1);
    });
  }
});

Deno.test("An onRefuse that throws or rejects goes to onError and leaves the response as it was", async (t) => {
  const failures = {
    throws: throwing(new Error("log down")),
    rejects: () => Promise.reject(new Error("log down")),
  };
  for (const [name, onRefuse] of Object.entries(failures)) {
    await t.step(name, async () => {
      const { server, errors } = setup({ origins: ["https://app.example.com"], onRefuse });
      const request = upgradeRequest(undefined, { origin: "https://evil.com" });
      const response = await server.fetch(request, CLIENT);
      assert.equal(response.status, 403);
      assert.equal(await response.text(), "Origin not allowed: https://evil.com");
      await endOfTick();
      assert.equal(errors.length, 1);
      assert.equal((errors[0].error as Error).message, "log down");
      assert.deepEqual([errors[0].session, errors[0].request], [undefined, request]);
      assert.equal(server.stats.rejected, 1);
    });
  }
});

// ---------------------------------------------------------------- RFC 6455 §4.2.1, on both runtimes alike

Deno.test("A broken handshake is refused before the context factory, the same on every runtime", async (t) => {
  const key = "dGhlIHNhbXBsZSBub25jZQ==";
  const table: [string, RequestInit & { headers?: Record<string, string> }, number, RegExp][] = [
    ["POST", { method: "POST" }, 400, /method must be GET/],
    ["no key", { headers: { "sec-websocket-key": "" } }, 400, /sec-websocket-key/],
    [
      "a key that is not base64",
      { headers: { "sec-websocket-key": "not base64 at all!!!!!==" } },
      400,
      /16 bytes in base64/,
    ],
    [
      "a key of 15 bytes",
      { headers: { "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAA" } },
      400,
      /16 bytes in base64/,
    ],
    [
      "a repeated key",
      { headers: { "sec-websocket-key": `${key}, ${key}` } },
      400,
      /16 bytes in base64/,
    ],
    ["version 8", { headers: { "sec-websocket-version": "8" } }, 426, /version/],
    ["no version", { headers: { "sec-websocket-version": "" } }, 426, /version/],
  ];
  for (const [name, init, expected, message] of table) {
    await t.step(name, async () => {
      let ran = 0;
      const { server, refusals } = setup({ context: () => void ran++ });
      const headers = new Headers(upgradeRequest().headers);
      for (const [header, value] of Object.entries(init.headers ?? {})) {
        if (value === "") headers.delete(header);
        else headers.set(header, value);
      }
      const request = new Request("http://127.0.0.1/ws", { method: init.method ?? "GET", headers });
      const response = await server.fetch(request, CLIENT);
      assert.equal(response.status, expected);
      assert.match(await response.text(), message);
      if (expected === 426) assert.equal(response.headers.get("sec-websocket-version"), "13");
      assert.equal(ran, 0, "the context factory never ran");
      assert.deepEqual(refusals.map(([, r]) => [r.status, r.reason]), [[
        expected,
        "bad-handshake",
      ]]);
      assert.equal(server.stats.handshakes, 0);
    });
  }
  await t.step("a sound handshake passes", async () => {
    const { status } = setup();
    assert.equal(await status(), 101);
  });
});

Deno.test("Handshakes waiting for their sockets expire each at its own deadline, on one timer", async () => {
  const { server, timers, accept } = setup({ handshakeTimeout: 500 });
  await accept(); // expires at 500
  timers.tick(200);
  await accept(); // at 700
  const claimed = await accept(); // would be 700, but opens
  assert.equal(timers.pending, 1, "one timer for all of them");
  server.open(new FakeSocket(), claimed);
  timers.tick(299);
  assert.deepEqual([server.stats.handshakes, server.stats.abandoned], [2, 0]);
  timers.tick(1); // 500
  assert.deepEqual([server.stats.handshakes, server.stats.abandoned], [1, 1]);
  timers.tick(199);
  assert.equal(server.stats.abandoned, 1);
  timers.tick(1); // 700
  assert.deepEqual([server.stats.handshakes, server.stats.abandoned], [0, 2]);
  assert.equal(timers.pending, 0, "no timer is left once none waits");
  const last = await accept();
  assert.equal(timers.pending, 1);
  server.open(new FakeSocket(), last);
  assert.equal(timers.pending, 0, "the last one opened: its timer stops");
});
