/**
 * The conformance suite of protocol v1 (PROTOCOL.md): real loopback
 * sockets, the apps of `fixtures/protocol_app.ts` served by Deno and by
 * Bun, and raw `WebSocket` clients that offer `switchboard.v1` and speak
 * it by hand: `$hello`, `$join` refused and accepted, room messages with
 * `seq`, resume with `since` (recovered, `gap`, `epoch`), the heartbeat of
 * an idle session, and an in-process restart that keeps the history.
 */
import assert from "node:assert/strict";
import { type Case, Client, type Fixture, type Received, runConformance } from "./_harness.ts";

const V1 = "switchboard.v1";
const V1_BATCH = "switchboard.v1.batch";

// deno-lint-ignore no-explicit-any
type Json = any;

/** A v1 client of the `v1` app (or another), after its `welcome`. */
function connect(fx: Fixture, user: string, app = "v1", protocol = V1): Promise<Client> {
  return Client.connect(fx.ws(app, `user=${user}`), [protocol]);
}

let nextId = 1;

/** Sends a request and returns its `$reply`, as JSON. */
async function ask(client: Client, topic: string, data: unknown): Promise<Json> {
  const id = nextId++;
  client.socket.send(JSON.stringify({ topic, id, data }));
  const m = await client.next((m) => _topic(m) === "$reply" && (m as Json).id === id);
  return JSON.parse(JSON.stringify(m));
}

/** Publishes `n` from..to to a room through the app, and waits for it to be done. */
async function publish(client: Client, room: string, from: number, to: number): Promise<number> {
  client.send("publish", { room, from, to });
  const done = await client.next((m) =>
    _topic(m) === "published" && (m as Json).data.room === room
  );
  return (done as Json).data.last;
}

/** The `[seq, n]` of the room messages a client got so far. */
function roomMessages(client: Client, room: string): [number, number][] {
  return client.received
    .filter((m) => (m as Json).room === room)
    .map((m) => [(m as Json).seq, (m as Json).data]);
}

/** Waits until the client got the room message with this `seq` (whether taken by `next` or not). */
async function until(client: Client, room: string, seq: number): Promise<void> {
  const match = (m: Received) => (m as Json).room === room && (m as Json).seq === seq;
  while (!client.received.some(match)) await client.next();
}

function _topic(m: Received): string | undefined {
  return "topic" in m ? m.topic : undefined;
}

function range(from: number, to: number): [number, number][] {
  return Array.from({ length: to - from + 1 }, (_, i) => [from + i, from + i]);
}

const CASES: Record<string, Case> = {
  async "$hello is the first frame, with the session id, the heartbeat and the limits"(fx) {
    for (const protocol of [V1, V1_BATCH]) {
      const client = await connect(fx, "hello", "v1", protocol);
      assert.equal(client.socket.protocol, protocol);
      const [hello, welcome] = client.received as Json[];
      assert.equal(hello.topic, "$hello");
      assert.equal(welcome.topic, "welcome");
      assert.equal(hello.data.version, 1);
      assert.equal(hello.data.session, welcome.data.id);
      assert.equal(hello.data.heartbeat, 200);
      assert.deepEqual(hello.data.limits, {
        maxMessageBytes: 1048576,
        rate: 100,
        burst: 200,
        bytes: 1048576,
        maxRoomsPerSession: 128,
        maxRequestsInFlight: 16,
      });
      await client.close();
    }
    const plain = await Client.connect(fx.ws("v1", "user=plain"));
    assert.equal(
      plain.received[0] && _topic(plain.received[0]),
      "welcome",
      "plain clients: no $hello",
    );
    await plain.close();
  },

  async "$join is refused with forbidden without authorizeJoin, and when the hook says no"(fx) {
    const nohook = await connect(fx, "refused", "v1-nohook");
    const refused = await ask(nohook, "$join", { room: "lobby" });
    assert.equal(refused.error.code, "forbidden");
    await nohook.close();
    const client = await connect(fx, "secret");
    assert.equal((await ask(client, "$join", { room: "secret" })).error.code, "forbidden");
    assert.equal((await ask(client, "$join", { room: "" })).error.code, "invalid");
    await client.close();
  },

  async "room messages carry room and seq; a join with since replays what was missed, then live"(
    fx,
  ) {
    const first = await connect(fx, "first");
    const joined = (await ask(first, "$join", { room: "resume" })).data;
    assert.deepEqual({ ...joined, epoch: "" }, { room: "resume", joined: true, seq: 0, epoch: "" });
    const { epoch } = joined;
    await publish(first, "resume", 1, 5);
    await until(first, "resume", 5);
    assert.deepEqual(roomMessages(first, "resume"), range(1, 5));
    await first.close();

    const publisher = await connect(fx, "publisher"); // not in the room
    assert.equal(await publish(publisher, "resume", 6, 8), 8);
    const back = await connect(fx, "back");
    const answer = await ask(back, "$join", { room: "resume", since: { seq: 5, epoch } });
    assert.deepEqual(answer.data, { room: "resume", joined: true, seq: 8, epoch, recovered: true });
    assert.deepEqual(roomMessages(back, "resume"), range(6, 8), "replayed before the reply");
    await publish(publisher, "resume", 9, 10);
    await until(back, "resume", 10);
    assert.deepEqual(roomMessages(back, "resume"), range(6, 10), "then live, none twice");
    await publisher.close();
    await back.close();
  },

  async "a join whose since fell out of the window gets recovered: false, reason gap"(fx) {
    const client = await connect(fx, "gap");
    const { epoch } = (await ask(client, "$join", { room: "gap" })).data;
    await publish(client, "gap", 1, 150); // the window holds 100
    const answer = await ask(client, "$join", { room: "gap", since: { seq: 10, epoch } });
    assert.deepEqual(answer.data, {
      room: "gap",
      joined: false,
      seq: 150,
      epoch,
      recovered: false,
      reason: "gap",
    });
    await client.close();
  },

  async "a join with an epoch the room never had gets recovered: false, reason epoch"(fx) {
    const client = await connect(fx, "epoch");
    const answer = await ask(client, "$join", {
      room: "epoch",
      since: { seq: 3, epoch: "not-this-one" },
    });
    assert.equal(answer.data.recovered, false);
    assert.equal(answer.data.reason, "epoch");
    assert.equal(answer.data.seq, 0);
    assert.notEqual(answer.data.epoch, "not-this-one");
    await client.close();
  },

  async "an idle v1 session gets $heartbeat; a plain one never does"(fx) {
    const client = await connect(fx, "idle");
    const plain = await Client.connect(fx.ws("v1", "user=idle-plain"));
    const t0 = Date.now();
    await client.next((m) => _topic(m) === "$heartbeat", 2000);
    await client.next((m) => _topic(m) === "$heartbeat", 2000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 150 && elapsed < 1500, `two heartbeats in ${elapsed} ms`);
    assert.ok(!plain.received.some((m) => _topic(m) === "$heartbeat"));
    await client.close();
    await plain.close();
  },

  async "an in-process restart sharing the history: a join with since gets recovered: true and the full sequence"(
    fx,
  ) {
    const listener = await connect(fx, "listener");
    const { epoch } = (await ask(listener, "$join", { room: "restart" })).data;
    const publisher = await connect(fx, "pub");
    await publish(publisher, "restart", 1, 10);
    await until(listener, "restart", 10);
    const restarted = await fx.ctl<{ restarted: boolean; historyRooms: number }>(
      "v1",
      "/ctl/restart",
    );
    assert.equal(restarted.restarted, true);
    assert.ok(restarted.historyRooms >= 1);
    assert.deepEqual(await listener.closed, { code: 1001, reason: "Server shutting down" });
    await publisher.closed;
    const seen = roomMessages(listener, "restart");
    const last = seen.at(-1)![0];

    const publisher2 = await connect(fx, "pub2");
    assert.equal(await publish(publisher2, "restart", 11, 20), 20, "kept while nobody is in it");
    const back = await connect(fx, "listener-back");
    const answer = await ask(back, "$join", { room: "restart", since: { seq: last, epoch } });
    assert.deepEqual(answer.data, {
      room: "restart",
      joined: true,
      seq: 20,
      epoch,
      recovered: true,
    });
    await publish(publisher2, "restart", 21, 25);
    await until(back, "restart", 25);
    assert.deepEqual([...seen, ...roomMessages(back, "restart")], range(1, 25));
    await publisher2.close();
    await back.close();
  },
};

runConformance("conformance of protocol v1", CASES);
