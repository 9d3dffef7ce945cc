/**
 * The Bun adapter's `fetch` (`src/adapters/bun.ts`) on a fake Bun: Bun's
 * limits, plain requests, the gate's refusals, the upgrade with the
 * context and the subprotocol, and an upgrade Bun refuses. The sockets'
 * side is in `bun_socket_test.ts`.
 */
import assert from "node:assert/strict";
import { bunAdapter } from "../src/adapters/bun.ts";
import { HttpError, Server } from "../mod.ts";
import type { ServeInfo } from "../src/options.ts";
import { bunRequest, setupBun } from "./_fake_socket.ts";

Deno.test("bunAdapter() sets Bun's limits from the server's", async (t) => {
  await t.step("defaults", () => {
    const { websocket } = bunAdapter(new Server());
    assert.equal(websocket.maxPayloadLength, 1024 * 1024);
    assert.equal(websocket.idleTimeout, 30);
    assert.equal(websocket.backpressureLimit, 64 * 1024);
    assert.equal(websocket.closeOnBackpressureLimit, false);
    assert.equal(websocket.sendPings, true);
    assert.equal(websocket.perMessageDeflate, false);
  });
  await t.step("custom limits pass through (the server accepts only integers)", () => {
    const server = new Server({ maxMessageBytes: 1000, idleTimeout: 12, highWaterMark: 100 });
    const { websocket } = bunAdapter(server);
    assert.equal(websocket.maxPayloadLength, 1000);
    assert.equal(websocket.idleTimeout, 12);
    assert.equal(websocket.backpressureLimit, 100);
    assert.throws(() => new Server({ idleTimeout: 12.2 }), RangeError);
  });
  await t.step("idleTimeout 0 disables it, as on Deno", () => {
    assert.equal(bunAdapter(new Server({ idleTimeout: 0 })).websocket.idleTimeout, 0);
  });
  await t.step("an idleTimeout over Bun's 960 s is a RangeError", () => {
    assert.equal(bunAdapter(new Server({ idleTimeout: 960 })).websocket.idleTimeout, 960);
    assert.throws(() => bunAdapter(new Server({ idleTimeout: 961 })), RangeError);
  });
});

Deno.test("bunAdapter() fetch answers a plain request with the fallback and its info", async () => {
  let seen: unknown;
  const { adapter, bun } = setupBun({
    fallback(_request, info) {
      seen = info.remoteAddr;
      return new Response("hello");
    },
  });
  const response = (await adapter.fetch(new Request("http://localhost/"), bun))!;
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "hello");
  assert.deepEqual(seen, { hostname: "127.0.0.1", port: 40123, transport: "tcp" });
  assert.equal(bun.upgrades.length, 0);
});

Deno.test("bunAdapter() fetch answers a plain request with 426 without a fallback", async () => {
  const { adapter, bun } = setupBun();
  const response = (await adapter.fetch(new Request("http://localhost/"), bun))!;
  assert.equal(response.status, 426);
  await response.body?.cancel();
  assert.equal(bun.upgrades.length, 0);
});

Deno.test("bunAdapter() fetch refuses a rejected handshake with its status and no upgrade", async (t) => {
  const { server, adapter, bun, connects, errors } = setupBun({
    context(request) {
      const reject = new URL(request.url).searchParams.get("reject");
      if (reject === "response") return new Response("Teapot", { status: 418 });
      if (reject === "403") throw new HttpError(403, "Forbidden here");
      if (reject === "throw") throw new Error("boom");
      return { user: "ada" };
    },
  });
  // A factory that throws anything but an HttpError is a bug: 500, and onError.
  for (const [reject, status] of [["403", 403], ["response", 418], ["throw", 500]] as const) {
    await t.step(`${reject} -> ${status}`, async () => {
      const response = (await adapter.fetch(bunRequest(`?reject=${reject}`), bun))!;
      assert.equal(response.status, status);
      await response.body?.cancel();
    });
  }
  assert.equal(bun.upgrades.length, 0);
  assert.equal(connects.length, 0);
  assert.equal(server.stats.rejected, 3);
  assert.deepEqual(errors.map(({ error }) => (error as Error).message), ["boom"]);
});

Deno.test("bunAdapter() fetch answers a broken handshake with 400 as Deno does", async (t) => {
  const { adapter, bun } = setupBun();
  await t.step("no Connection: Upgrade", async () => {
    const response = (await adapter.fetch(bunRequest("", { connection: "keep-alive" }), bun))!;
    assert.equal(response.status, 400);
    assert.match(await response.text(), /'connection' header must contain 'Upgrade'/);
  });
  await t.step("no Sec-WebSocket-Key", async () => {
    const request = bunRequest();
    const headers = new Headers(request.headers);
    headers.delete("sec-websocket-key");
    const response = (await adapter.fetch(new Request(request.url, { headers }), bun))!;
    assert.equal(response.status, 400);
    assert.match(await response.text(), /'sec-websocket-key' header must be set/);
  });
  await t.step("Connection with several tokens is fine", async () => {
    const response = await adapter.fetch(
      bunRequest("", { connection: "keep-alive, Upgrade" }),
      bun,
    );
    assert.equal(response, undefined);
  });
  assert.equal(bun.upgrades.length, 1);
});

Deno.test("bunAdapter() fetch upgrades with the context, the client's address and no protocol", async () => {
  let info: unknown;
  const { adapter, bun, connects } = setupBun({
    context(request, serveInfo) {
      info = serveInfo.remoteAddr;
      return { user: new URL(request.url).searchParams.get("user")! };
    },
  });
  const response = await adapter.fetch(
    bunRequest("?user=grace", { "sec-websocket-protocol": "chat, superchat" }),
    bun,
  );
  assert.equal(response, undefined);
  assert.deepEqual(info, { hostname: "127.0.0.1", port: 40123, transport: "tcp" });
  assert.equal(bun.upgrades.length, 1);
  // An empty value stops Bun from echoing the client's first offer ("chat").
  assert.deepEqual(bun.upgrades[0].headers, { "Sec-WebSocket-Protocol": "" });
  assert.equal(connects.length, 1);
  assert.equal(connects[0].ctx.user, "grace");
});

Deno.test("bunAdapter() fetch upgrades in the same call when the context factory is synchronous", async () => {
  // Bun keeps more memory per socket upgraded after an `await`.
  const sync = setupBun({ context: () => ({ user: "ada" }) });
  assert.equal(sync.adapter.fetch(bunRequest(), sync.bun), undefined);
  assert.equal(sync.connects.length, 1);
  const refused = setupBun({ context: () => new Response("no", { status: 401 }) });
  const response = refused.adapter.fetch(bunRequest(), refused.bun);
  assert.ok(response instanceof Response);
  assert.equal(response.status, 401);
  await response.body?.cancel();
  const async = setupBun({ context: () => Promise.resolve({ user: "grace" }) });
  const pending = async.adapter.fetch(bunRequest(), async.bun);
  assert.ok(pending instanceof Promise);
  assert.equal(async.bun.upgrades.length, 0);
  assert.equal(await pending, undefined);
  assert.equal(async.connects.length, 1);
});

Deno.test("bunAdapter() fetch upgrades with the subprotocol the server chose", async () => {
  const { adapter, bun } = setupBun({ protocols: ["superchat", "chat"] });
  const response = await adapter.fetch(
    bunRequest("", { "sec-websocket-protocol": "chat, superchat" }),
    bun,
  );
  assert.equal(response, undefined);
  assert.deepEqual(bun.upgrades[0].headers, { "Sec-WebSocket-Protocol": "superchat" });
});

Deno.test("bunAdapter() fetch answers 400 when Bun refuses the upgrade, tells onError and onRefuse, and gives the admission back", async (t) => {
  const thrown = new TypeError("Bun could not upgrade");
  for (const [name, refuse] of [["returns false", false], ["throws", true]] as const) {
    await t.step(name, async () => {
      const { server, adapter, bun, connects, errors, refusals, connect } = setupBun({
        maxSessions: 1,
      });
      bun.accept = false;
      if (refuse) bun.failure = thrown;
      const request = bunRequest();
      const response = (await adapter.fetch(request, bun))!;
      assert.equal(response.status, 400);
      await response.body?.cancel();
      assert.equal(bun.upgrades.length, 1);
      assert.equal(connects.length, 0);
      assert.equal(server.sessions.size, 0);
      const error = refuse ? thrown : new Error("Bun refused the upgrade");
      assert.deepEqual(errors, [{ error, session: undefined, request }]);
      assert.deepEqual(refusals, [[request, {
        status: 400,
        reason: "upgrade-failed",
        message: `Bad WebSocket handshake: ${error.message}`,
      }]]);
      assert.deepEqual([server.stats.handshakes, server.stats.rejected], [0, 1]);
      bun.accept = true;
      bun.failure = undefined;
      await connect(); // the one place under maxSessions: 1 is free again
      assert.equal(server.sessions.size, 1);
    });
  }
});

Deno.test("server.fetch served by Bun without the adapter answers 400 and tells onError why", async () => {
  // Bun.serve({ fetch: server.fetch }): Bun's server arrives as the info,
  // and the default upgrade (Deno.upgradeWebSocket) is missing.
  const missing = new TypeError("Cannot upgrade: Deno.upgradeWebSocket is not available");
  const { server, bun, errors, refusals } = setupBun({
    upgrade: () => {
      throw missing;
    },
  });
  const request = bunRequest();
  const response = await server.fetch(request, bun as unknown as ServeInfo);
  assert.equal(response.status, 400);
  assert.match(await response.text(), /Deno\.upgradeWebSocket is not available/);
  assert.deepEqual(errors.at(-1), { error: missing, session: undefined, request });
  assert.equal(errors.length, 2, "and once that the request has no client key");
  assert.equal(refusals[0][1].reason, "upgrade-failed");
  assert.equal(bun.upgrades.length, 0);
  assert.deepEqual([server.sessions.size, server.stats.handshakes], [0, 0]);
});
