/**
 * The conformance suite of the gate: what happens to an upgrade request
 * before the upgrade, over real loopback sockets, against the same app
 * served by Deno and by Bun (each in a subprocess). Every refusal has an
 * HTTP status, is counted, and reaches `onRefuse`; a bug in the context
 * factory reaches `onError`.
 */
import assert from "node:assert/strict";
import type { TestEvent } from "./fixtures/app.ts";
import {
  type Case,
  Client,
  rawRequest,
  rawUpgradeStatus,
  runConformance,
  tryUpgrade,
} from "./_harness.ts";

const CASES: Record<string, Case> = {
  async "a refused upgrade gets the HTTP status and opens no session"(fx) {
    assert.equal((await tryUpgrade(fx.ws("main"))).status, 401);
    assert.deepEqual(await tryUpgrade(fx.ws("main", "reject=403")), {
      status: 403,
      body: "Rejected by test",
    });
    assert.deepEqual(await tryUpgrade(fx.ws("main", "reject=response")), {
      status: 418,
      body: "Teapot says no",
    });
    const browser = new Client(fx.ws("main", "reject=403"));
    await assert.rejects(browser.opened);
    await browser.closed;
    const state = await fx.ctl<{ sessions: unknown[]; stats: { rejected: number } }>(
      "main",
      "/ctl/state",
    );
    assert.deepEqual(state.sessions, []);
    assert.ok(state.stats.rejected >= 4);
  },

  async "a broken handshake gets 400 before the context factory runs"(fx) {
    for (const omit of ["connection", "sec-websocket-key"]) {
      const headers = new Headers({
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      });
      headers.delete(omit);
      const response = await fetch(fx.http("main", "/?user=broken"), { headers });
      assert.equal(response.status, 400, `without ${omit}`);
      assert.match(await response.text(), new RegExp(omit));
    }
  },

  async "an Origin not on the allow-list gets 403 before the upgrade"(fx) {
    const url = fx.ws("origin", "user=origin");
    const table: [string | undefined, number][] = [
      ["https://app.example.com", 101],
      ["https://APP.EXAMPLE.COM", 101],
      ["https://app.example.com:443", 101],
      ["https://app.example.com.evil.com", 403],
      ["https://evil-app.example.com", 403],
      ["http://app.example.com", 403],
      ["null", 403],
      [undefined, 101],
    ];
    for (const [origin, expected] of table) {
      const status = await rawUpgradeStatus(url, origin === undefined ? {} : { origin });
      assert.equal(status, expected, `Origin ${origin}`);
    }
    const state = await fx.ctl<{ stats: { rejected: number } }>("origin", "/ctl/state");
    assert.equal(state.stats.rejected, 4);
  },

  async "the session caps answer 503 (total) and 429 (per client), and free up on close"(fx) {
    const a1 = await Client.connect(fx.ws("caps", "user=cap-a1&client=a"));
    const a2 = await Client.connect(fx.ws("caps", "user=cap-a2&client=a"));
    assert.equal((await tryUpgrade(fx.ws("caps", "user=cap-a3&client=a"))).status, 429);
    const b1 = await Client.connect(fx.ws("caps", "user=cap-b1&client=b"));
    assert.equal((await tryUpgrade(fx.ws("caps", "user=cap-c1&client=c"))).status, 503);
    await a1.close();
    await fx.event("caps", { type: "close", user: "cap-a1" });
    const c1 = await Client.connect(fx.ws("caps", "user=cap-c1&client=c"));
    await Promise.all([a2.close(), b1.close(), c1.close()]);
  },

  async "a context factory slower than handshakeTimeout gets 503"(fx) {
    assert.deepEqual(await tryUpgrade(fx.ws("slow-auth", "user=slow&slow=2000")), {
      status: 503,
      body: "The context factory timed out",
    });
    const quick = await Client.connect(fx.ws("slow-auth", "user=quick&slow=10"));
    await quick.close();
  },

  async "a handshake RFC 6455 refuses gets 400 or 426 before the context factory, alike"(fx) {
    const url = fx.ws("main", "user=rfc");
    const host = `Host: ${new URL(url).host}`;
    const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    const base = [host, "Upgrade: websocket", "Connection: Upgrade"];
    const table: [string, string, string[], number][] = [
      ["POST", "POST", [...base, key, "Sec-WebSocket-Version: 13"], 400],
      ["a key twice", "GET", [...base, key, key, "Sec-WebSocket-Version: 13"], 400],
      [
        "a key not base64",
        "GET",
        [...base, "Sec-WebSocket-Key: ###", "Sec-WebSocket-Version: 13"],
        400,
      ],
      ["version 8", "GET", [...base, key, "Sec-WebSocket-Version: 8"], 426],
      ["no version", "GET", [...base, key], 426],
    ];
    for (const [name, method, lines, status] of table) {
      const response = await rawRequest(url, method, lines);
      assert.equal(response.status, status, name);
      if (status === 426) assert.match(response.head, /sec-websocket-version: 13/i, name);
    }
    const { events } = await fx.ctl<{ events: TestEvent[] }>("main", "/ctl/state");
    const refusals = events.filter((e) => e.type === "refuse" && e.request === "/?user=rfc");
    assert.deepEqual(
      refusals.map((e) => [e.code, e.kind]),
      table.map((r) => [r[3], "bad-handshake"]),
    );
    assert.equal(events.filter((e) => e.type === "connect" && e.user === "rfc").length, 0);
  },

  async "a bug in the context factory answers 500 and reaches onError with the request"(fx) {
    assert.deepEqual(await tryUpgrade(fx.ws("main", "user=buggy&crash=1")), {
      status: 500,
      body: "Internal Server Error",
    });
    const error = await fx.event("main", { type: "error", request: "/?user=buggy&crash=1" });
    assert.equal(error.detail, "TypeError: A bug in the auth code");
    const refusal = await fx.event("main", { type: "refuse", request: "/?user=buggy&crash=1" });
    assert.equal(refusal.code, 500);
    assert.equal(refusal.kind, "context-error");
    // A deliberate refusal is no error.
    assert.equal((await tryUpgrade(fx.ws("main", "reject=401"))).status, 401);
    const { events } = await fx.ctl<{ events: TestEvent[] }>("main", "/ctl/state");
    assert.equal(
      events.filter((e) => e.type === "error" && e.request === "/?reject=401").length,
      0,
    );
  },

  async "every refusal before the upgrade reaches onRefuse with its status and reason"(fx) {
    const table: [string, string, Record<string, string>, number, string][] = [
      ["main", "user=r1&reject=403", {}, 403, "context"],
      ["main", "user=r2&reject=response", {}, 418, "context"],
      ["origin", "user=r3", { origin: "https://evil.example.com" }, 403, "origin"],
      ["slow-auth", "user=r4&slow=2000", {}, 503, "context-timeout"],
    ];
    for (const [app, query, headers, status, reason] of table) {
      assert.equal(await rawUpgradeStatus(fx.ws(app, query), headers), status, query);
      const event = await fx.event(app, { type: "refuse", request: `/?${query}` });
      assert.deepEqual([event.code, event.kind], [status, reason], query);
    }
    const held = await Client.connect(fx.ws("caps", "user=r5&client=r"));
    const held2 = await Client.connect(fx.ws("caps", "user=r6&client=r"));
    assert.equal((await tryUpgrade(fx.ws("caps", "user=r7&client=r"))).status, 429);
    const capped = await fx.event("caps", { type: "refuse", request: "/?user=r7&client=r" });
    assert.deepEqual([capped.code, capped.kind], [429, "client-full"]);
    await Promise.all([held.close(), held2.close()]);
  },

  async "requests without a client key are not capped together, and onError says so once"(fx) {
    // maxSessionsPerClient is 1, but no request has a key: strangers are not merged.
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await Client.connect(fx.ws("keyless", `user=k${i}`)));
    const { events, stats } = await fx.ctl<{ events: TestEvent[]; stats: { sessions: number } }>(
      "keyless",
      "/ctl/state",
    );
    assert.equal(stats.sessions, 3);
    const warnings = events.filter((e) => e.type === "error");
    assert.equal(warnings.length, 1, "said once");
    assert.match(warnings[0].detail!, /no client key/);
    assert.equal(warnings[0].request, "/?user=k0");
    await Promise.all(clients.map((client) => client.close()));
  },

  async "a server served without its runtime's adapter says so through onError"(fx) {
    if (fx.runtime === "deno") {
      // Deno needs no adapter: `Deno.serve(server.fetch)` is the way.
      const client = await Client.connect(fx.ws("no-adapter", "user=plain"));
      await client.close();
      return;
    }
    // Bun with `fetch: server.fetch`: the upgrade cannot happen, and the
    // operator hears why, not only the client.
    const response = await tryUpgrade(fx.ws("no-adapter", "user=plain"));
    assert.equal(response.status, 500);
    assert.match(response.body, /bunAdapter/);
    const error = await fx.event("no-adapter", { type: "error", request: "/?user=plain" });
    assert.match(error.detail!, /bunAdapter/);
    const refusal = await fx.event("no-adapter", { type: "refuse", request: "/?user=plain" });
    assert.deepEqual([refusal.code, refusal.kind], [500, "upgrade-failed"]);
    const { stats } = await fx.ctl<{ stats: { sessions: number; handshakes: number } }>(
      "no-adapter",
      "/ctl/state",
    );
    assert.deepEqual([stats.sessions, stats.handshakes], [0, 0]);
  },
};

runConformance("conformance of the gate", CASES);
