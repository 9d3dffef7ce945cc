/**
 * The close code the client reports for a connection lost without a close
 * frame (`client/_connector.ts`): 1006 on every runtime, as browsers and
 * the docs say, though Deno's `WebSocket` reports 0.
 */
import assert from "node:assert/strict";
import { ConnectionLostError } from "../client/errors.ts";
import type { ReconnectingEvent } from "../client/events.ts";
import { settle } from "./_fake_ws.ts";
import { NO_REPLY, rig } from "./_fake_ws_server.ts";

Deno.test("a close without a valid code (Deno reports a drop as 0) is reported as 1006", async (t) => {
  for (const code of [0, 999, 5000, NaN]) {
    await t.step(`${code} -> 1006`, async () => {
      const { client, server, net, retry } = rig<
        object,
        object,
        { op: { input: null; output: null } }
      >(
        {},
        { requests: { op: () => NO_REPLY } },
      );
      const lost: ReconnectingEvent[] = [];
      client.events.on("reconnecting", (e) => lost.push(e));
      await settle();
      const request = client.request("op", null).catch((error) => error);
      await settle();
      server.closeAll(code, "");
      const error = await request;
      assert.deepEqual(lost.map((e) => e.code), [1006]);
      assert.ok(error instanceof ConnectionLostError);
      assert.equal(error.code, 1006);
      await retry();
      assert.equal(client.state, "open");
      assert.equal(net.sockets.length, 2);
      await client.close();
    });
  }
});
