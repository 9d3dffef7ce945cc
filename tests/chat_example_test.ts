import assert from "node:assert/strict";
import { type ChatServer, createChatServer } from "../examples/chat_app.ts";
import { type ChatOut, MAX_ROOM_LENGTH } from "../examples/chat_contract.ts";
import { Inbox } from "./_inbox.ts";

/** An envelope as the client sees it. */
type Received = { topic: string; data?: unknown };

type ErrorData = { code: string; message: string; topic?: string };
/** The answer to a request: `data`, or `error`. */
type Reply = Received & {
  id: number;
  error?: ErrorData & { issues?: { path?: unknown[]; message: string }[] };
};
type DataOf<K> = K extends keyof ChatOut ? ChatOut[K] : ErrorData;

/**
 * A browser-like chat client: a real `WebSocket` whose messages land in an
 * inbox that tests take from with {@linkcode ChatClient.next}.
 */
class ChatClient {
  readonly ws: WebSocket;
  readonly name: string;
  /** Resolves with the close event; always settles, even if the upgrade was refused. */
  readonly closed: Promise<CloseEvent>;
  opened = false;
  /** The session id from the server's `welcome`, once connected. */
  session = "";
  readonly #inbox: Inbox<Received>;
  #ids = 1;

  constructor(port: number, query: string, name: string) {
    this.name = name;
    this.#inbox = new Inbox(name);
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`);
    this.ws.onopen = () => this.opened = true;
    this.ws.onmessage = (event) => this.#inbox.push(JSON.parse(event.data));
    this.ws.onerror = () => {};
    this.closed = new Promise((resolve) => this.ws.onclose = resolve);
  }

  /** Takes the first message on `topic` whose data matches, waiting for it if need be. */
  async next<K extends keyof ChatOut | "$error">(
    topic: K,
    match: (data: DataOf<K>) => boolean = () => true,
  ): Promise<DataOf<K>> {
    const message = await this.#inbox.take(
      (m) => m.topic === topic && match(m.data as DataOf<K>),
      `"${topic}" ${match}`,
    );
    return message.data as DataOf<K>;
  }

  send(topic: string, data?: unknown): void {
    this.ws.send(JSON.stringify({ topic, data }));
  }

  /** Sends a request (an envelope with a fresh `id`) and takes its `$reply`. */
  async request(topic: string, data: unknown): Promise<Reply> {
    const id = this.#ids++;
    this.ws.send(JSON.stringify({ topic, data, id }));
    return await this.#inbox.take(
      (m) => m.topic === "$reply" && (m as Reply).id === id,
      `the $reply to ${topic} #${id}`,
    ) as Reply;
  }

  /**
   * A round trip with no side effects: an unknown topic is refused by the
   * app's contract with a `$error` reply. Everything the server sent this
   * session before it handled the probe is in the inbox afterwards.
   */
  async sync(): Promise<void> {
    this.send("sync-probe", {});
    const error = await this.next("$error");
    assert.equal(error.code, "invalid");
  }

  /** Messages received and not taken, on a topic. */
  pending(topic: string): Received[] {
    return this.#inbox.pending((m) => m.topic === topic);
  }

  close(code?: number, reason?: string): Promise<CloseEvent> {
    if (this.ws.readyState < WebSocket.CLOSING) this.ws.close(code, reason);
    return this.closed;
  }
}

/** Starts a chat server on a free loopback port, runs `fn`, and tears everything down. */
async function withChat(
  fn: (chat: {
    server: ChatServer;
    port: number;
    connect: (token: string) => Promise<ChatClient>;
    open: (query: string) => ChatClient;
    /** Server log lines (one per connect and disconnect), taken like messages. */
    log: Inbox<string>;
  }) => Promise<void>,
): Promise<void> {
  const log = new Inbox<string>("server log");
  const server = createChatServer({ log: (line) => log.push(line) });
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, server.fetch);
  const port = http.addr.port;
  const clients: ChatClient[] = [];
  try {
    await fn({
      server,
      port,
      log,
      connect: async (token) => {
        const client = new ChatClient(port, `?token=${token}`, token.replace("-token", ""));
        clients.push(client);
        client.session = (await client.next("welcome")).session;
        return client;
      },
      open: (query) => {
        const client = new ChatClient(port, query, query);
        clients.push(client);
        return client;
      },
    });
  } finally {
    await server.shutdown({ timeout: 2000 });
    await http.shutdown();
    await Promise.all(clients.map((client) => client.closed));
  }
}

/** The upgrade headers a browser sends, so that `fetch` sees the refusal's status and body. */
function upgradeRequest(port: number, query: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/${query}`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
}

Deno.test("createChatServer() refuses a missing or unknown token with 401 and opens no session", async () => {
  await withChat(async ({ server, port, open }) => {
    for (
      const [query, body] of [
        ["", "Missing token"],
        ["?token=", "Missing token"],
        ["?token=mallory-token", "Unknown token"],
        ["?token=__proto__", "Unknown token"],
      ]
    ) {
      const response = await upgradeRequest(port, query);
      assert.equal(response.status, 401, query);
      assert.equal(await response.text(), body);
    }
    const refused = open("?token=mallory-token");
    const event = await refused.closed;
    assert.equal(refused.opened, false, "the browser WebSocket never opens");
    assert.equal(event.wasClean, false);
    assert.equal(server.sessions.size, 0);
    assert.equal(server.stats.opened, 0);
    assert.equal(server.stats.rejected, 5);
  });
});

Deno.test("the chat's HTTP fallback serves a help page at / and 404 elsewhere", async () => {
  await withChat(async ({ port }) => {
    const help = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(help.status, 200);
    assert.match(await help.text(), /token=alice-token/);
    const missing = await fetch(`http://127.0.0.1:${port}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});

Deno.test("joining a room sends the joiner the members and the others a presence join", async () => {
  await withChat(async ({ server, connect }) => {
    const alice = await connect("alice-token");
    const bob = await connect("bob-token");
    assert.equal(server.sessions.size, 2);

    alice.send("join", { room: "lobby" });
    assert.deepEqual(await alice.next("members"), { room: "lobby", users: ["alice"] });

    bob.send("join", { room: "lobby" });
    assert.deepEqual(await bob.next("members"), { room: "lobby", users: ["alice", "bob"] });
    assert.deepEqual(await alice.next("presence"), { room: "lobby", user: "bob", event: "join" });
    // The presence join is published `except` the joiner, before its member list.
    assert.deepEqual(bob.pending("presence"), []);

    // The `who` request answers the same list, to members only.
    assert.deepEqual((await bob.request("who", { room: "lobby" })).data, {
      room: "lobby",
      users: ["alice", "bob"],
    });
    assert.equal((await bob.request("who", { room: "garden" })).error?.code, "not-member");

    // Joining again is idempotent: the member list again, no presence.
    bob.send("join", { room: "lobby" });
    assert.deepEqual(await bob.next("members"), { room: "lobby", users: ["alice", "bob"] });
    await alice.sync();
    assert.deepEqual(alice.pending("presence"), []);
    assert.equal(server.rooms.get("lobby")?.size, 2);
  });
});

Deno.test("say reaches every member of the room, the sender included, and nobody outside", async () => {
  await withChat(async ({ connect }) => {
    const alice = await connect("alice-token");
    const bob = await connect("bob-token");
    const carol = await connect("carol-token");
    for (const client of [alice, bob]) {
      client.send("join", { room: "lobby" });
      await client.next("members");
    }
    carol.send("join", { room: "garden" });
    await carol.next("members");

    alice.send("say", { room: "lobby", text: "hello lobby" });
    const expected = { room: "lobby", from: "alice", text: "hello lobby" };
    assert.deepEqual(await bob.next("message"), expected);
    assert.deepEqual(await alice.next("message"), expected);
    await carol.sync();
    assert.deepEqual(carol.pending("message"), []);

    // Only members may speak in a room.
    carol.send("say", { room: "lobby", text: "let me in" });
    const refusal = await carol.next("error");
    assert.equal(refusal.request, "say");
    assert.equal(refusal.code, "not-member");
    await bob.sync();
    assert.deepEqual(bob.pending("message"), []);
  });
});

Deno.test("a direct message reaches every session of its user and nobody else", async () => {
  await withChat(async ({ connect }) => {
    const alice = await connect("alice-token");
    const bobPhone = await connect("bob-token");
    const bobLaptop = await connect("bob-token");
    const carol = await connect("carol-token");

    const reply = await alice.request("dm", { to: "bob", text: "psst" });
    assert.deepEqual(reply.data, { to: "bob", sessions: 2 });
    const expected = { from: "alice", to: "bob", text: "psst" };
    assert.deepEqual(await bobPhone.next("direct"), expected);
    assert.deepEqual(await bobLaptop.next("direct"), expected);
    for (const other of [alice, carol]) {
      await other.sync();
      assert.deepEqual(other.pending("direct"), [], other.name);
    }

    const refusal = await alice.request("dm", { to: "dave", text: "anyone?" });
    assert.equal(refusal.data, undefined);
    assert.equal(refusal.error?.code, "offline");
    assert.equal(refusal.error?.message, 'Cannot send to "dave": no open session');
  });
});

Deno.test("leaving a room on request answers the leaver and tells the others", async () => {
  await withChat(async ({ server, connect }) => {
    const alice = await connect("alice-token");
    const bob = await connect("bob-token");
    for (const client of [alice, bob]) {
      client.send("join", { room: "lobby" });
      await client.next("members");
    }
    await alice.next("presence", (p) => p.user === "bob");

    bob.send("leave", { room: "lobby" });
    assert.deepEqual(await bob.next("left"), { room: "lobby" });
    assert.deepEqual(await alice.next("presence"), { room: "lobby", user: "bob", event: "leave" });
    assert.deepEqual([...server.rooms.get("lobby") ?? []].map((s) => s.ctx.user), ["alice"]);

    bob.send("leave", { room: "lobby" });
    const refusal = await bob.next("error");
    assert.deepEqual([refusal.request, refusal.code], ["leave", "not-member"]);
  });
});

Deno.test("presence is per user: only a user's first session joining and last leaving are announced", async () => {
  await withChat(async ({ connect }) => {
    const alice = await connect("alice-token");
    const bobPhone = await connect("bob-token");
    const bobLaptop = await connect("bob-token");
    alice.send("join", { room: "lobby" });
    await alice.next("members");

    bobPhone.send("join", { room: "lobby" });
    await bobPhone.next("members");
    await alice.next("presence", (p) => p.user === "bob" && p.event === "join");
    bobLaptop.send("join", { room: "lobby" });
    assert.deepEqual(await bobLaptop.next("members"), { room: "lobby", users: ["alice", "bob"] });

    bobPhone.send("leave", { room: "lobby" });
    await bobPhone.next("left");
    await alice.sync();
    assert.deepEqual(alice.pending("presence"), [], "bob is still there on his laptop");

    await bobLaptop.close(1000, "bye");
    assert.deepEqual(await alice.next("presence"), {
      room: "lobby",
      user: "bob",
      event: "leave",
      cause: "client",
    });
  });
});

Deno.test("a disconnect announces a presence leave with its cause and empties the registry and rooms", async () => {
  await withChat(async ({ server, connect, log }) => {
    const alice = await connect("alice-token");
    const bob = await connect("bob-token");
    for (const client of [alice, bob]) {
      for (const room of ["lobby", "garden"]) {
        client.send("join", { room });
        await client.next("members", (m) => m.room === room);
      }
    }
    assert.deepEqual([...server.rooms.keys()].sort(), ["garden", "lobby"]);

    const closed = await bob.close(1000, "gone fishing");
    assert.equal(closed.code, 1000);
    for (const room of ["lobby", "garden"]) {
      assert.deepEqual(
        await alice.next("presence", (p) => p.room === room && p.event === "leave"),
        {
          room,
          user: "bob",
          event: "leave",
          cause: "client",
        },
      );
    }
    assert.equal(server.sessions.size, 1);

    // A DM to a user whose last session closed is refused: the user index was updated.
    const refusal = await alice.request("dm", { to: "bob", text: "still there?" });
    assert.equal(refusal.error?.code, "offline");

    // Bob's closed session left the user index: his next session is his only one.
    const bobAgain = await connect("bob-token");
    const line = await log.take((line) => line.includes(bobAgain.session), "bob's reconnect");
    assert.match(line, /^bob connected \(session [-0-9a-f]+, 1 open\)$/);

    await bobAgain.close(4000, "for good");
    await alice.close(1000);
    // The server's onClose may run after the client's close event: wait for its log lines.
    await log.take((line) => line.startsWith("bob disconnected: client 4000"), "bob's close");
    await log.take((line) => line.startsWith("alice disconnected: client 1000"), "alice's close");
    assert.equal(server.sessions.size, 0);
    assert.equal(server.rooms.size, 0);
    assert.equal(server.stats.closed, 3);
  });
});

Deno.test("chat requests are checked: shape by the contract ($error), chat rules by the app (error)", async (t) => {
  await withChat(async ({ server, connect }) => {
    const alice = await connect("alice-token");

    await t.step("a room name of 1 to 64 characters is accepted", async () => {
      for (const room of ["x", "r".repeat(MAX_ROOM_LENGTH), "🎉 party"]) {
        alice.send("join", { room });
        assert.deepEqual(await alice.next("members"), { room, users: ["alice"] });
      }
    });

    await t.step("an empty or too long room name gets an error reply", async () => {
      for (const room of ["", "r".repeat(MAX_ROOM_LENGTH + 1)]) {
        alice.send("join", { room });
        const refusal = await alice.next("error");
        assert.deepEqual([refusal.request, refusal.code], ["join", "bad-room"]);
        assert.equal(server.rooms.has(room), false);
      }
    });

    await t.step("an empty text gets an error reply", async () => {
      alice.send("say", { room: "x", text: "" });
      assert.equal((await alice.next("error")).code, "bad-text");
    });

    await t.step("a wrong shape or an unknown topic gets the core's $error", async () => {
      for (
        const [topic, data] of [
          ["join", { room: 42 }],
          ["join", "lobby"],
          ["say", { room: "x" }],
          ["dm", { to: "bob", text: "hi", extra: true }],
          ["shout", { room: "x" }],
        ] as const
      ) {
        alice.send(topic, data);
        const error = await alice.next("$error");
        assert.equal(error.code, "invalid", `${topic} ${JSON.stringify(data)}`);
        assert.equal(error.topic, topic);
      }
      alice.ws.send("not json");
      assert.equal((await alice.next("$error")).code, "json");
      assert.equal(server.stats.invalidMessages, 6);
    });

    await t.step(
      "a request with a wrong shape gets a $reply with the contract's issues",
      async () => {
        const reply = await alice.request("dm", { to: "bob", text: "hi", extra: true });
        assert.equal(reply.error?.code, "invalid");
        assert.deepEqual(reply.error?.issues?.map((issue) => issue.path), [["extra"]]);
        const empty = await alice.request("dm", { to: "alice", text: "" });
        assert.equal(empty.error?.code, "bad-text");
      },
    );

    assert.equal(server.sessions.size, 1, "refusals never close the session");
  });
});

Deno.test("server.shutdown() closes every chat session with 1001", async () => {
  await withChat(async ({ server, connect }) => {
    const alice = await connect("alice-token");
    const bob = await connect("bob-token");
    alice.send("join", { room: "lobby" });
    await alice.next("members");
    await server.shutdown({ timeout: 2000 });
    for (const client of [alice, bob]) {
      const event = await client.closed;
      assert.equal(event.code, 1001);
    }
    assert.equal(server.sessions.size, 0);
    assert.equal(server.rooms.size, 0);
  });
});

// Type-level: the chat's topics type `publish` and `send` (checked by `deno check`, never run).
const _typed = (server: ChatServer) => {
  server.publish("lobby", "message", { room: "lobby", from: "a", text: "b" });
  // @ts-expect-error unknown topic
  server.publish("lobby", "nope", {});
  // @ts-expect-error wrong data for the topic
  server.publish("lobby", "message", { room: "lobby" });
};
