/**
 * The client, unmodified, on Deno and on Bun, against a real server over
 * loopback. The server of this branch does not speak protocol v1 yet, so
 * the client runs as it does with such a server: no `$hello`, open at the
 * upgrade. TODO(issue 12): once the server side lands, the integration
 * tests listed in the report replace this one.
 */
import assert from "node:assert/strict";
import { defineContract, RequestError, Server, type } from "../mod.ts";
import { bunBinary } from "./_bun_binary.ts";
import { runChild } from "./_child.ts";

const contract = defineContract({
  client: { say: type<string>(), kick: type<null>() },
  server: { said: type<string>() },
  requests: {
    echo: { input: type<string>(), output: type<string>() },
    fail: { input: type<null>(), output: type<null>() },
  },
});

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
