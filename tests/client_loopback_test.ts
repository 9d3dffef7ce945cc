/**
 * The client, unmodified, on Deno and on Bun, against a real server over
 * loopback, speaking protocol v1; and a room resumed across an in-process
 * server restart that keeps its history. The acceptance runs of issue 12 at
 * scale (10,000 messages, a killed server process, an in-process restart on
 * Deno and on Bun) are in client_kill_test.ts; a silent proxy and a
 * reconnect herd are still to come.
 */
import assert from "node:assert/strict";
import { connect } from "../client/mod.ts";
import { defineContract, RequestError, Server, type } from "../mod.ts";
import { bunBinary } from "./_bun_binary.ts";
import { runChild, timeout } from "./_child.ts";
import { contract } from "./fixtures/client_contract.ts";

const PROBE = new URL("./fixtures/client_probe.ts", import.meta.url).pathname;

for (const runtime of ["deno", "bun"] as const) {
  Deno.test(`the client runs unmodified on ${runtime} against a real server`, async () => {
    const server = new Server({
      contract,
      onMessage(session, message) {
        if (message.topic === "kick") session.close(4001, "kicked");
        else session.send("said", message.data);
      },
      requests: {
        echo: (_, input) => input,
        fail: () => {
          throw new RequestError("nope", "Refused");
        },
      },
    });
    const http = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, server.fetch);
    try {
      const url = `ws://127.0.0.1:${http.addr.port}/`;
      const command = runtime === "deno"
        ? [Deno.execPath(), "run", "--allow-net", PROBE, url]
        : [await bunBinary(), PROBE, url];
      const { success, lines } = await runChild(command, { timeoutMs: 30_000 });
      assert.ok(success, lines.join("\n"));
      const result = JSON.parse(lines.at(-1)!);
      assert.equal(result.echo, "hello");
      assert.equal(result.failed, "nope");
      assert.deepEqual(result.said, ["one", "two", "three"]);
      assert.deepEqual(result.seen, ["open", "closed"]);
      assert.deepEqual(result.closed, { cause: "server", code: 4001, reason: "kicked" });
      assert.equal(result.stats.dropped, 0);
      assert.equal(result.stats.opened, 1);
    } finally {
      await server.shutdown();
      await http.shutdown();
    }
  });
}

Deno.test("a joined room resumes across a server restart that keeps its history: every message once, in order", async () => {
  const ticks = defineContract({ client: {}, server: { tick: type<number>() }, requests: {} });
  const start = (options: { history?: Server["history"]; port?: number } = {}) => {
    const server = new Server({
      contract: ticks,
      authorizeJoin: () => true,
      ...(options.history ? { history: options.history } : {}),
    });
    const http = Deno.serve(
      { port: options.port ?? 0, hostname: "127.0.0.1", onListen() {} },
      server.fetch,
    );
    return { server, http };
  };
  let { server, http } = start();
  const port = http.addr.port;
  const client = connect(`ws://127.0.0.1:${port}/`, { contract: ticks });
  const got: number[] = [];
  let wake: (() => void) | undefined;
  client.on("tick", (n) => {
    got.push(n);
    wake?.();
  });
  /** Waits for `count` ticks, 10 s at the most (then the assertions below fail). */
  const until = (count: number) =>
    timeout(
      new Promise<void>((resolve) => {
        wake = () => got.length >= count && resolve();
        wake();
      }),
      10_000,
      undefined,
    );
  const recovery = new Promise<{ recovered: boolean; seq?: number }>((resolve) =>
    client.events.on("recovery", resolve)
  );
  try {
    await client.join("r");
    for (let i = 0; i < 5; i++) server.publish("r", "tick", i);
    await until(5);
    const history = server.history;
    await server.shutdown();
    await http.shutdown();
    ({ server, http } = start({ history, port }));
    for (let i = 5; i < 10; i++) server.publish("r", "tick", i); // while the client is away
    const recovered = await timeout(recovery, 10_000, { recovered: false, seq: -1 });
    await until(10);
    assert.equal(recovered.recovered, true);
    assert.equal(recovered.seq, 10);
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    server.publish("r", "tick", 10);
    await until(11);
    assert.deepEqual(got.slice(10), [10], "live again, nothing twice");
    assert.equal(client.stats.duplicates, 0);
  } finally {
    await client.close();
    await server.shutdown();
    await http.shutdown();
  }
});
