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
import { collect } from "./_client_wait.ts";
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
  const { got, until } = collect<number>((fn) => client.on("tick", fn));
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

Deno.test("batch: true gets switchboard.v1.batch from a server with batch on, switchboard.v1 from one with it off", async (t) => {
  for (
    const [batch, expected] of [[true, "switchboard.v1.batch"], [false, "switchboard.v1"]] as const
  ) {
    await t.step(`server batch: ${batch}`, async () => {
      const echo = defineContract({
        client: { say: type<string>() },
        server: { said: type<string>() },
      });
      const server = new Server({
        contract: echo,
        batch,
        onMessage(session, message) {
          // Two sends in one turn: one batch frame on v1.batch, two frames on v1.
          session.send("said", `${message.data} 1`);
          session.send("said", `${message.data} 2`);
        },
      });
      const http = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, server.fetch);
      const client = connect(`ws://127.0.0.1:${http.addr.port}/`, {
        contract: echo,
        batch: true,
        reconnect: false,
      });
      try {
        const opened = await timeout(
          new Promise<{ protocol: string }>((resolve) => client.events.on("open", resolve)),
          5000,
          { protocol: "(no open within 5 s)" },
        );
        assert.equal(opened.protocol, expected);
        const said: string[] = [];
        const both = new Promise<void>((resolve) =>
          client.on("said", (text) => said.push(text) === 2 && resolve())
        );
        client.send("say", "hi");
        await timeout(both, 5000, undefined);
        assert.deepEqual(said, ["hi 1", "hi 2"]);
        assert.equal(server.stats.protocolSessions, 1);
      } finally {
        await client.close();
        await server.shutdown();
        await http.shutdown();
      }
    });
  }
});
