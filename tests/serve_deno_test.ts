/**
 * `serve()` (`src/serve_deno.ts`) on real loopback sockets: serving,
 * shutdown by call and by signal, the first bind's errors, and handler
 * errors. Its recovery from a failed accept loop needs a process under a
 * descriptor limit: `fault_fdlimit_test.ts` proves it.
 */
import assert from "node:assert/strict";
import { Server } from "../src/server.ts";
import { serve } from "../src/serve_deno.ts";

const HOST = "127.0.0.1";

/** Opens a WebSocket and resolves once it is open; rejects on an error or after 5 s. */
function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${url}: not open in 5 s`)), 5000);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`${url}: failed`));
    };
  });
}

/** Resolves with the next event of `type` on `ws`; rejects after 5 s. */
function next<T extends Event>(ws: WebSocket, type: "message" | "close"): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No ${type} in 5 s`)), 5000);
    ws.addEventListener(type, (event) => {
      clearTimeout(timer);
      resolve(event as unknown as T);
    }, { once: true });
  });
}

Deno.test("serve() serves sessions; shutdown() closes them with 1001, then stops listening", async () => {
  const server = new Server({
    maxSessions: 10, // under any descriptor limit: serve() has no cap to report
    onMessage(session, message) {
      session.send("echo", message.data);
    },
  });
  const listened: number[] = [];
  const errors: unknown[] = [];
  const http = serve(server, {
    port: 0,
    hostname: HOST,
    onListen: ({ port }) => void listened.push(port),
    onError: (error) => void errors.push(error),
  });
  assert.deepEqual(listened, [http.addr.port], "onListen once, with the port picked");
  assert.equal(http.addr.hostname, HOST);
  const ws = await open(`ws://${HOST}:${http.addr.port}/`);
  ws.send(JSON.stringify({ topic: "say", data: "hi" }));
  const echo = await next<MessageEvent>(ws, "message");
  assert.deepEqual(JSON.parse(echo.data), { topic: "echo", data: "hi" });

  const closed = next<CloseEvent>(ws, "close");
  const done = http.shutdown();
  assert.equal(http.shutdown(), done, "a second call returns the same promise");
  await done;
  assert.equal((await closed).code, 1001);
  assert.equal(server.shuttingDown, true);
  await http.finished;
  await assert.rejects(Deno.connect({ hostname: HOST, port: http.addr.port }));
  assert.equal(http.restarts, 0);
  assert.deepEqual(errors, []);
});

Deno.test("serve() shuts down when its signal aborts, or at once if it already has", async () => {
  const controller = new AbortController();
  const http = serve(new Server(), {
    port: 0,
    hostname: HOST,
    onListen() {},
    signal: controller.signal,
  });
  controller.abort();
  await http.finished;
  await assert.rejects(Deno.connect({ hostname: HOST, port: http.addr.port }));

  const aborted = serve(new Server(), {
    port: 0,
    hostname: HOST,
    onListen() {},
    signal: AbortSignal.abort(),
  });
  await aborted.finished;
});

Deno.test("serve() throws on its first bind if the port is taken", async () => {
  const http = serve(new Server(), { port: 0, hostname: HOST, onListen() {} });
  try {
    assert.throws(
      () => serve(new Server(), { port: http.addr.port, hostname: HOST, onListen() {} }),
      Deno.errors.AddrInUse,
    );
  } finally {
    await http.shutdown();
  }
});

Deno.test("serve() reports a throwing request handler to onError and answers 500", async () => {
  const errors: unknown[] = [];
  const server = new Server({
    maxSessions: 10,
    fallback() {
      throw new Error("A bug in the fallback");
    },
  });
  const http = serve(server, {
    port: 0,
    hostname: HOST,
    onListen() {},
    onError: (error) => void errors.push(error),
  });
  const response = await fetch(`http://${HOST}:${http.addr.port}/`);
  await response.body?.cancel();
  await http.shutdown();
  assert.equal(response.status, 500);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "A bug in the fallback");
});
