/**
 * The context factory and the subprotocol choice, the gate's last steps
 * (`src/gate.ts`), on fake timers and a fake upgrade: what the factory's
 * result, refusal, bug or slowness give the client, what it is given, and
 * which subprotocol the server answers with.
 */
import assert from "node:assert/strict";
import { HttpError } from "../src/errors.ts";
import { CLIENT, openSession, setup, upgradeRequest } from "./_fake_socket.ts";

// ---------------------------------------------------------------- the context factory

Deno.test("A context factory throwing HttpError(403) gives 403 and no session", async () => {
  const { server, calls, errors, connects } = setup({
    context() {
      throw new HttpError(403, "Unknown token");
    },
  });
  const response = await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(response.status, 403);
  assert.equal(await response.text(), "Unknown token");
  assert.equal(calls.length, 0, "no upgrade");
  assert.equal(server.sessions.size, 0);
  assert.equal(connects.length, 0);
  assert.equal(server.stats.rejected, 1);
  assert.equal(server.stats.opened, 0);
  assert.deepEqual(errors, [], "a refusal is no error");
});

Deno.test("A context factory throwing a plain Error gives 500 without its message", async () => {
  const { server, calls } = setup({
    context() {
      throw new Error("secret detail");
    },
  });
  const response = await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(response.status, 500);
  assert.doesNotMatch(await response.text(), /secret detail/);
  assert.equal(calls.length, 0);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A context factory that throws a TypeError is a bug: 500, onError with the request, onRefuse context-error", async () => {
  const bug = new TypeError("Cannot read properties of undefined (reading 'token')");
  const { server, errors, refusals } = setup({
    context(request) {
      if (request.headers.has("x-deny")) throw new HttpError(401, "Who are you?");
      throw bug;
    },
  });
  const request = upgradeRequest();
  const response = await server.fetch(request, CLIENT);
  assert.equal(response.status, 500);
  assert.equal(await response.text(), "Internal Server Error");
  assert.deepEqual(errors, [{ error: bug, session: undefined, request }]);
  assert.deepEqual(refusals, [[request, {
    status: 500,
    reason: "context-error",
    message: "Internal Server Error",
  }]]);
  // An HttpError is a refusal, not a bug: its status, and no onError.
  const denied = upgradeRequest(undefined, { "x-deny": "1" });
  const refusal = await server.fetch(denied, CLIENT);
  assert.equal(refusal.status, 401);
  assert.equal(await refusal.text(), "Who are you?");
  assert.equal(errors.length, 1);
  assert.deepEqual(refusals[1], [denied, {
    status: 401,
    reason: "context",
    message: "Who are you?",
  }]);
  assert.equal(server.stats.rejected, 2);
  assert.equal(server.stats.handshakes, 0);
});

Deno.test("A context factory rejecting gives its HttpError status, else 500", async (t) => {
  await t.step("HttpError(429)", async () => {
    const { server, errors } = setup({ context: () => Promise.reject(new HttpError(429)) });
    const response = await server.fetch(upgradeRequest(), CLIENT);
    assert.equal(response.status, 429);
    await response.body?.cancel();
    assert.deepEqual(errors, []);
  });
  await t.step("a string", async () => {
    const { server, errors } = setup({ context: () => Promise.reject("nope") });
    const response = await server.fetch(upgradeRequest(), CLIENT);
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.deepEqual(errors.map((e) => e.error), ["nope"]);
  });
});

Deno.test("A context factory returning a Response gives that response and no session", async () => {
  const refusal = new Response("go away", { status: 418, headers: { "x-why": "teapot" } });
  const { server, calls } = setup({ context: () => refusal });
  const response = await server.fetch(upgradeRequest(), CLIENT);
  assert.equal(response, refusal);
  assert.equal(calls.length, 0);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.rejected, 1);
  await response.body?.cancel();
});

Deno.test("A refused context factory gives its admission back", async (t) => {
  const refusals: [string, () => never | Response, number][] = [
    ["an HttpError", () => {
      throw new HttpError(401);
    }, 401],
    ["a Response", () => new Response(null, { status: 401 }), 401],
    ["a bug", () => {
      throw new Error("no");
    }, 500],
  ];
  for (const [name, refuse, expected] of refusals) {
    await t.step(name, async () => {
      const { status } = setup({
        maxSessions: 1,
        context: (request) => request.headers.has("x-deny") ? refuse() : undefined,
      });
      for (let i = 0; i < 3; i++) {
        assert.equal(await status(upgradeRequest(undefined, { "x-deny": "1" })), expected);
      }
      assert.equal(await status(), 101);
    });
  }
});

Deno.test("An async context factory runs to completion before the upgrade", async () => {
  const { promise: token, resolve } = Promise.withResolvers<string>();
  const { server, calls } = setup({
    context: async (request) => ({ user: await token, url: request.url }),
  });
  const pending = server.fetch(upgradeRequest("http://127.0.0.1/x"), CLIENT);
  await Promise.resolve();
  assert.equal(calls.length, 0, "no upgrade while the factory runs");
  resolve("ada");
  assert.equal((await pending).status, 101);
  calls[0].socket.fireOpen();
  const session = [...server.sessions.values()][0];
  assert.deepEqual(session.ctx, { user: "ada", url: "http://127.0.0.1/x" });
});

Deno.test("The context factory receives the request and the serve info", async () => {
  const seen: unknown[] = [];
  const { server } = setup({ context: (request, info) => void seen.push(request, info) });
  const request = upgradeRequest();
  const info = { remoteAddr: { hostname: "10.0.0.1", port: 1234, transport: "tcp" } };
  await server.handshake(request, info);
  assert.deepEqual(seen, [request, info]);
  await server.fetch(request);
  assert.deepEqual(seen[3], {}, "fetch passes {} without info");
});

Deno.test("A context factory slower than handshakeTimeout gets 503", async () => {
  const { server, timers } = setup({
    handshakeTimeout: 100,
    maxSessions: 1,
    context: () => new Promise<undefined>(() => {}), // never settles
  });
  const response = server.fetch(upgradeRequest(), CLIENT);
  await Promise.resolve();
  assert.deepEqual(timers.delays(), [100]);
  timers.tick(100);
  const answer = await response;
  assert.equal(answer.status, 503);
  assert.equal(await answer.text(), "The context factory timed out");
  assert.equal(timers.pending, 0);
  assert.equal(server.sessions.size, 0);
  assert.equal(server.stats.handshakes, 0, "its admission is back");
});

Deno.test("A context factory that answers in time leaves no timer behind once the socket opens", async () => {
  const { timers, status, calls } = setup({
    handshakeTimeout: 100,
    context: () => Promise.resolve(undefined),
  });
  assert.equal(await status(), 101);
  assert.equal(timers.pending, 1, "the socket must open within handshakeTimeout");
  calls[0].socket.fireOpen();
  assert.equal(timers.pending, 0);
});

Deno.test("A server without a context factory gives every session ctx undefined", async () => {
  const { server } = setup();
  const { session } = await openSession(server);
  assert.equal(session.ctx, undefined);
});

Deno.test("Server.handshake() returns the ctx and the protocol without upgrading", async () => {
  const { server, calls } = setup({ context: () => ({ n: 1 }), protocols: ["v1"] });
  const handshake = await server.handshake(
    upgradeRequest(undefined, { "sec-websocket-protocol": "v1" }),
  );
  assert.ok(!(handshake instanceof Response));
  assert.deepEqual([handshake.ctx, handshake.protocol], [{ n: 1 }, "v1"]);
  assert.equal(calls.length, 0);
  assert.equal(server.sessions.size, 0);
});

Deno.test("Server.handshake() answers in the same call unless the context factory returns a promise", async (t) => {
  await t.step("no factory, or a synchronous one: a handshake, not a promise", () => {
    for (const options of [{}, { context: () => ({ n: 1 }) }]) {
      const handshake = setup(options).server.handshake(upgradeRequest(), CLIENT);
      assert.ok(!(handshake instanceof Promise) && !(handshake instanceof Response));
    }
  });
  await t.step("a synchronous refusal or throw: a response, not a promise", () => {
    const refusing = setup({
      context: () => {
        throw new HttpError(403, "no");
      },
    });
    const refused = refusing.server.handshake(upgradeRequest(), CLIENT);
    assert.ok(refused instanceof Response);
    assert.equal(refused.status, 403);
    const throwing = setup({
      context: () => {
        throw new TypeError("a bug in auth");
      },
    });
    const failed = throwing.server.handshake(upgradeRequest(), CLIENT);
    assert.ok(failed instanceof Response);
    assert.equal(failed.status, 500);
    assert.equal(throwing.errors.length, 1);
  });
  await t.step("an async factory: a promise of the handshake", async () => {
    const { server } = setup({ context: () => Promise.resolve({ n: 2 }) });
    const pending = server.handshake(upgradeRequest(), CLIENT);
    assert.ok(pending instanceof Promise);
    const handshake = await pending;
    assert.ok(!(handshake instanceof Response));
    assert.deepEqual(handshake.ctx, { n: 2 });
  });
  await t.step("a thenable that is not a Promise is awaited, as `await` would", async () => {
    const thenable = { then: (resolve: (ctx: { n: number }) => void) => resolve({ n: 3 }) };
    const { server } = setup({ context: () => thenable as unknown as { n: number } });
    const handshake = await server.handshake(upgradeRequest(), CLIENT);
    assert.ok(!(handshake instanceof Response));
    assert.deepEqual(handshake.ctx, { n: 3 });
  });
});

// ---------------------------------------------------------------- subprotocols

Deno.test("The server chooses its most preferred subprotocol among those the client offers", async (t) => {
  const table: [readonly string[] | undefined, string | undefined, string | undefined][] = [
    [["v2", "v1"], "v1, v2", "v2"],
    [["v2", "v1"], "v1", "v1"],
    [["v2", "v1"], "v3", undefined],
    [["v2", "v1"], undefined, undefined],
    [undefined, "v1, v2", undefined],
    [["chat"], "  chat ,superchat", "chat"],
    [["Chat"], "chat", undefined],
  ];
  for (const [protocols, offered, chosen] of table) {
    await t.step(
      `server ${JSON.stringify(protocols)}, client ${JSON.stringify(offered)}`,
      async () => {
        const { server, calls } = setup({ protocols });
        const headers: Record<string, string> = offered === undefined
          ? {}
          : { "sec-websocket-protocol": offered };
        const handshake = await server.handshake(upgradeRequest(undefined, headers));
        assert.ok(!(handshake instanceof Response));
        assert.equal(handshake.protocol, chosen);
        await server.fetch(upgradeRequest(undefined, headers), CLIENT);
        assert.equal(calls[0].options.protocol, chosen);
      },
    );
  }
});
