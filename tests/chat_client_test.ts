/**
 * The chat example's terminal client (`examples/chat_client_app.ts`, run
 * by `examples/chat_client.ts`) against the real chat server over
 * loopback: rooms, presence, requests, a resume across a server restart,
 * and the entry itself as a child process on Deno and Bun.
 */
import assert from "node:assert/strict";
import { ChatTerminal } from "../examples/chat_client_app.ts";
import { type ChatServer, createChatServer } from "../examples/chat_app.ts";
import { bunBinary } from "./_bun_binary.ts";
import { type Child, spawnChild, timeout } from "./_child.ts";
import { Inbox } from "./_inbox.ts";

const ENTRY = new URL("../examples/chat_client.ts", import.meta.url).pathname;

/** A chat terminal whose printed lines land in an inbox, and in a transcript. */
class Terminal {
  readonly chat: ChatTerminal;
  /** Every line printed, in order. */
  readonly transcript: string[] = [];
  readonly #lines: Inbox<string>;

  constructor(port: number, token: string) {
    this.#lines = new Inbox(token, 10_000);
    this.chat = new ChatTerminal({
      url: `ws://127.0.0.1:${port}/`,
      token,
      print: (line) => {
        this.transcript.push(line);
        this.#lines.push(line);
      },
      // Quick retries: a restart in a test takes milliseconds.
      reconnect: { base: 50, cap: 200 },
    });
  }

  /** Takes the first line printed (or still to come) that matches. */
  line(match: string | RegExp): Promise<string> {
    const test = typeof match === "string" ? (line: string) => line === match : match;
    return this.#lines.take(
      (line) => typeof test === "function" ? test(line) : test.test(line),
      String(match),
    );
  }
}

/** Starts a chat server on a loopback port (a given one to restart on it). */
function serve(options: { history?: ChatServer["history"]; port?: number } = {}) {
  const server = createChatServer(options.history ? { history: options.history } : {});
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    server.fetch,
  );
  return { server, http, port: http.addr.port };
}

Deno.test("the chat client's entry loads only the client and the contract, no server code", async () => {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", ENTRY],
    stdout: "piped",
  }).output();
  assert.ok(success);
  const root = new URL("../", import.meta.url).href;
  const local = (JSON.parse(new TextDecoder().decode(stdout)).modules as { specifier: string }[])
    .map((module) => module.specifier)
    .filter((specifier) => specifier.startsWith("file:"))
    .map((specifier) => specifier.replace(root, ""));
  const allowed = (path: string) =>
    path.startsWith("client/") ||
    ["src/contract.ts", "src/standard_schema.ts", "src/forbidden_keys.ts"].includes(path) ||
    ["examples/chat_client.ts", "examples/chat_client_app.ts", "examples/chat_contract.ts"]
      .includes(path);
  assert.deepEqual(local.filter((path) => !allowed(path)), []);
  assert.ok(local.includes("examples/chat_contract.ts"));
  assert.ok(local.includes("client/mod.ts"));
});

Deno.test("two chat clients in a room: say, presence, who, a direct message, refusals, leave", async () => {
  const { server, http, port } = serve();
  const alice = new Terminal(port, "alice-token");
  const bob = new Terminal(port, "bob-token");
  try {
    await alice.line("~ connected as alice");
    alice.chat.input("/join lobby");
    await alice.line("~ joined lobby: alice");
    bob.chat.input("/join lobby");
    await bob.line("~ joined lobby: alice, bob");
    await alice.line("[lobby] * bob joined");
    assert.deepEqual(bob.chat.client.rooms.map((r) => [r.room, r.joined]), [["lobby", true]]);

    alice.chat.input("hello bob");
    await bob.line("[lobby] alice: hello bob");
    await alice.line("[lobby] alice: hello bob");

    bob.chat.input("/dm alice psst");
    await alice.line("[dm from bob] psst");
    await bob.line("[dm to alice] psst");
    bob.chat.input("/dm dave anyone?");
    await bob.line('! dm dave: Cannot send to "dave": no open session (offline)');

    bob.chat.input(`/join ${"r".repeat(65)}`);
    await bob.line(/^! join r+: Room names have 1 to 64 characters, got 65 \(bad-room\)$/);
    bob.chat.input("/who garden");
    await bob.line('! who garden: Cannot list room "garden": not a member (not-member)');
    assert.equal(bob.chat.room, "lobby", "a refused join keeps the current room");
    assert.deepEqual(bob.chat.client.rooms.map((r) => r.room), ["lobby"]);

    bob.chat.input("/leave");
    await bob.line("~ left lobby");
    await alice.line("[lobby] * bob left");
    assert.equal(bob.chat.room, undefined);
    bob.chat.input("nobody hears this");
    await bob.line("! join a room first: /join lobby");
    assert.deepEqual(bob.chat.client.rooms, []);
    assert.equal(server.rooms.get("lobby")?.size, 1);
    assert.equal(alice.chat.client.stats.rejected + bob.chat.client.stats.rejected, 0);
  } finally {
    await alice.chat.close();
    await bob.chat.close();
    await server.shutdown();
    await http.shutdown();
  }
});

Deno.test("a plain WebSocket and the chat client share a room: one presence, one stream", async () => {
  const { server, http, port } = serve();
  const bob = new Terminal(port, "bob-token");
  const carol = new WebSocket(`ws://127.0.0.1:${port}/?token=carol-token`);
  const received = new Inbox<{ topic: string; data: Record<string, unknown>; seq?: number }>(
    "carol",
  );
  carol.onmessage = (event) => received.push(JSON.parse(event.data));
  const closed = new Promise((resolve) => carol.onclose = resolve);
  const next = (topic: string, from?: string) =>
    received.take((m) => m.topic === topic && (from === undefined || m.data.from === from), topic);
  try {
    await next("welcome");
    carol.send(JSON.stringify({ topic: "join", data: { room: "lobby" } }));
    assert.deepEqual((await next("members")).data, { room: "lobby", users: ["carol"] });

    bob.chat.input("/join lobby"); // a $join, under the same rules and presence
    await bob.line("~ joined lobby: bob, carol");
    assert.deepEqual((await next("presence")).data, { room: "lobby", user: "bob", event: "join" });
    carol.send(JSON.stringify({ topic: "say", data: { room: "lobby", text: "hi bob" } }));
    await bob.line("[lobby] carol: hi bob");
    bob.chat.input("hi carol");
    const said = await next("message", "bob");
    assert.deepEqual(said.data, { room: "lobby", from: "bob", text: "hi carol" });
    assert.equal(typeof said.seq, "number", "a room a v1 client joined is numbered, for all");

    bob.chat.input("/leave lobby");
    await bob.line("~ left lobby");
    assert.deepEqual((await next("presence")).data, { room: "lobby", user: "bob", event: "leave" });
  } finally {
    carol.close();
    await closed;
    await bob.chat.close();
    await server.shutdown();
    await http.shutdown();
  }
});

Deno.test("a chat server restart with its history: the chat clients resume their room and say so", async () => {
  let { server, http, port } = serve();
  const alice = new Terminal(port, "alice-token");
  const bob = new Terminal(port, "bob-token");
  try {
    for (const who of [alice, bob]) {
      who.chat.input("/join lobby");
      await who.line(/^~ joined lobby: /);
    }
    alice.chat.input("before the restart");
    await bob.line("[lobby] alice: before the restart");
    await alice.line("[lobby] alice: before the restart");

    const history = server.history;
    await server.shutdown();
    await http.shutdown();
    for (const who of [alice, bob]) await who.line(/^~ reconnecting in \d+ ms \(1001/);
    ({ server, http } = serve({ history, port }));
    // Published before either client is back (nothing ran since the listen).
    server.publish("lobby", "message", {
      room: "lobby",
      from: "carol",
      text: "while you were away",
    });

    for (const who of [alice, bob]) {
      await who.line("~ reconnected");
      await who.line("[lobby] carol: while you were away");
      const recovered = await who.line(/^~ lobby: recovered, \d+ missed messages? replayed$/);
      const replayed = Number(recovered.match(/\d+/)![0]);
      assert.ok(replayed >= 2, `${recovered}: carol's message and a presence join at least`);
      const at = (line: string) => who.transcript.lastIndexOf(line);
      assert.ok(at("[lobby] carol: while you were away") < at(recovered), "the replay comes first");
      assert.equal(
        who.transcript.filter((line) => line === "[lobby] alice: before the restart").length,
        1,
        "nothing delivered twice",
      );
      assert.equal(who.chat.client.stats.duplicates, 0);
      assert.equal(who.chat.client.stats.gaps, 0);
    }
    // Presence works across the restart: each sees the other come back (live or replayed).
    await alice.line("[lobby] * bob joined");
    await bob.line("[lobby] * alice joined");

    alice.chat.input("after the restart");
    await bob.line("[lobby] alice: after the restart");
    bob.chat.input("/who");
    await bob.line("~ here lobby: alice, bob");
  } finally {
    await alice.chat.close();
    await bob.chat.close();
    await server.shutdown();
    await http.shutdown();
  }
});

/** Waits until the child printed a line that matches, 10 s at the most. */
async function printed(child: Child, match: string | RegExp): Promise<string> {
  const test = (line: string) => typeof match === "string" ? line === match : match.test(line);
  const found = await child.line(test, 10_000);
  if (found === undefined) {
    throw new Error(`No line ${match} within 10 s; printed: ${JSON.stringify(child.lines)}`);
  }
  return found;
}

/** Writes one line to the child's stdin. */
async function type(child: Child, line: string): Promise<void> {
  const writer = child.process.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(`${line}\n`));
  } finally {
    writer.releaseLock();
  }
}

for (const runtime of ["deno", "bun"] as const) {
  Deno.test(`examples/chat_client.ts on ${runtime}: stdin lines in, stdout lines out, /quit`, async () => {
    const { server, http, port } = serve();
    const bob = new Terminal(port, "bob-token");
    let child: Child | undefined;
    try {
      bob.chat.input("/join lobby");
      await bob.line("~ joined lobby: bob");
      const url = `ws://127.0.0.1:${port}/`;
      child = spawnChild(
        runtime === "deno"
          ? [Deno.execPath(), "run", "--allow-net", ENTRY, "alice-token", "lobby", "--url", url]
          : [await bunBinary(), ENTRY, "alice-token", "lobby", "--url", url],
      );
      await printed(child, "~ connected as alice");
      await printed(child, "~ joined lobby: alice, bob");
      await bob.line("[lobby] * alice joined");

      await type(child, "hello from the terminal");
      await bob.line("[lobby] alice: hello from the terminal");
      bob.chat.input("hi alice");
      await printed(child, "[lobby] bob: hi alice");
      await type(child, "/dm bob psst");
      await bob.line("[dm from alice] psst");
      await printed(child, "[dm to bob] psst");

      await type(child, "/quit");
      const status = await timeout(child.process.status, 10_000, undefined);
      assert.equal(status?.code, 0, `exit: ${JSON.stringify(child.lines)}`);
      await child.wait();
      assert.equal(child.lines.at(-1), "~ closed (client 1000)");
      await bob.line("[lobby] * alice left (client)");
    } finally {
      await child?.stop();
      await bob.chat.close();
      await server.shutdown();
      await http.shutdown();
    }
  });
}

// Type-level: the terminal's client is typed by the chat's contract (checked by `deno check`).
const _typed = async (chat: ChatTerminal) => {
  const { sessions } = await chat.client.request("dm", { to: "bob", text: "hi" });
  const count: number = sessions;
  // @ts-expect-error "shout" is not a request of the contract
  await chat.client.request("shout", { room: "lobby" });
  // @ts-expect-error "who" needs a room
  await chat.client.request("who", { to: "bob" });
  // @ts-expect-error "dm" is a request, not a message
  chat.client.send("dm", { to: "bob", text: "hi" });
  chat.client.on("message", ({ from, text }) => `${from}${text}${count}`);
};
