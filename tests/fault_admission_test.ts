/**
 * The admission fault suite: every place a handshake takes under the
 * session caps is given back exactly once, whatever happens between the
 * request and the socket's `open`: the client leaves while the context
 * factory runs, the client resets right after its request, the factory
 * times out, the server shuts down with handshakes under way. Afterwards
 * the caps are whole: as many legitimate clients as the caps allow get in.
 * Runs against the conformance fixture on Deno and on Bun, over loopback.
 */
import assert from "node:assert/strict";
import { type Case, Client, type Fixture, runConformance, tryUpgrade } from "./_harness.ts";

/** The fixture's `admission` app: `maxSessionsPerClient: 4`, `maxSessions: 8`, `handshakeTimeout: 300`. */
const PER_CLIENT = 4;

/** Sends a whole upgrade request over TCP and closes the connection before any answer. */
async function requestAndLeave(url: string): Promise<void> {
  const { hostname, port, pathname, search } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = [
    `GET ${pathname}${search} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
  ].join("\r\n") + "\r\n\r\n";
  await conn.write(new TextEncoder().encode(head));
  conn.close();
}

/**
 * Waits until the app's stats hold these values (the fixture polls, bounded
 * at 15 s); `settled` is the least number of upgrades ended so far.
 */
async function until(
  fx: Fixture,
  app: string,
  stats: Record<string, number>,
): Promise<Record<string, number>> {
  const query = new URLSearchParams(Object.entries(stats).map(([k, v]) => [k, String(v)]));
  return await fx.ctl(app, `/ctl/until?${query}`);
}

/** Sends `count` upgrade requests that leave at once; resolves once the server has ended each. */
async function leaving(fx: Fixture, count: number, query: (i: number) => string): Promise<void> {
  const before = await until(fx, "admission", {});
  const settled = before.opened + before.abandoned + before.rejected;
  for (let i = 0; i < count; i++) await requestAndLeave(fx.ws("admission", query(i)));
  await until(fx, "admission", { settled: settled + count, handshakes: 0, sessions: 0 });
}

/** As many clients as the per-client cap allows get in, and one more gets 429. */
async function capsAreWhole(fx: Fixture, client: string): Promise<void> {
  const clients: Client[] = [];
  for (let i = 0; i < PER_CLIENT; i++) {
    clients.push(await Client.connect(fx.ws("admission", `user=${client}-${i}&client=${client}`)));
  }
  const extra = await tryUpgrade(fx.ws("admission", `user=${client}-x&client=${client}`));
  assert.equal(extra.status, 429, "the cap still holds");
  await Promise.all(clients.map((c) => c.close()));
  await until(fx, "admission", { sessions: 0 });
}

const CASES: Record<string, Case> = {
  async "clients that leave while the context factory runs give their places back"(fx) {
    await leaving(fx, 20, (i) => `user=gone-${i}&client=a&slow=50`);
    await capsAreWhole(fx, "a");
  },

  async "clients that reset right after the request give their places back"(fx) {
    await leaving(fx, 20, (i) => `user=reset-${i}&client=b`);
    await capsAreWhole(fx, "b");
  },

  async "a context factory that times out gives its place back"(fx) {
    const slow = [];
    for (let i = 0; i < PER_CLIENT; i++) {
      slow.push(tryUpgrade(fx.ws("admission", `user=late-${i}&client=c&slow=1000`)));
    }
    for (const response of await Promise.all(slow)) assert.equal(response.status, 503);
    await capsAreWhole(fx, "c");
  },

  async "a shutdown with handshakes under way leaves no place taken"(fx) {
    const app = "admission-shutdown";
    const slow = [];
    for (let i = 0; i < 3; i++) slow.push(tryUpgrade(fx.ws(app, `user=s-${i}&slow=200`)));
    const held = await Client.connect(fx.ws(app, "user=held"));
    await fx.ctl(app, "/ctl/shutdown?timeout=2000");
    for (const response of await Promise.all(slow)) assert.equal(response.status, 503);
    await held.closed;
    await until(fx, app, { handshakes: 0, sessions: 0, lingering: 0 });
  },
};

runConformance("admission faults", CASES);
