/**
 * Rooms the client drives (`src/client_rooms.ts`) and room messages with
 * history (`Publisher` in `src/fanout.ts`), on the fake socket and fake
 * timers: `authorizeJoin` and every refusal, request ids, `$leave`,
 * `seq` on room messages encoded once, replay then subscribe in one step
 * (no loss, no duplicate), `recovered: false` with `gap` or `epoch`, and a
 * history shared with a server made after a shutdown.
 */
import assert from "node:assert/strict";
import { defineContract, type } from "../src/contract.ts";
import { RequestError } from "../src/requests.ts";
import { endOfTick, FakeTimers } from "./_fake_socket.ts";
import { envelopes, type Json, reply, request, settle, topics, v1Server } from "./_v1.ts";

const allow = { authorizeJoin: () => true };

/** The room messages the socket was sent: `[seq, data]`. */
function roomMessages(envelopes: Json[], room = "r"): [number, unknown][] {
  return envelopes.filter((e) => e.room === room).map((e) => [e.seq, e.data]);
}

Deno.test("$join without authorizeJoin is refused: forbidden, not joined", async () => {
  const { server, open } = v1Server();
  const opened = await open();
  request(opened, "$join", 1, { room: "r" });
  assert.deepEqual(reply(opened.socket, 1), {
    topic: "$reply",
    id: 1,
    error: { code: "forbidden", message: 'Cannot join room "r": not allowed' },
  });
  assert.equal(opened.session.rooms.has("r"), false);
  assert.equal(server.stats.joinsRefused, 1);
  await server.shutdown();
});

Deno.test("authorizeJoin decides, sync or async; a RequestError keeps its code", async (t) => {
  const verdicts: Record<string, () => unknown> = {
    yes: () => true,
    no: () => false,
    "no-answer": () => undefined,
    later: () => Promise.resolve(true),
    "later-no": () => Promise.resolve(false),
    vip: () => {
      throw new RequestError("vip-only", "Members only");
    },
    "vip-later": () => Promise.reject(new RequestError("vip-only", "Members only")),
    bug: () => {
      throw new Error("secret");
    },
    "bug-later": () => Promise.reject(new Error("secret")),
  };
  const { server, open, errors } = v1Server({
    authorizeJoin: (_session, room) => verdicts[room]() as boolean,
  });
  const expected: Record<string, Json> = {
    yes: { data: { room: "yes", joined: true } },
    no: { error: { code: "forbidden", message: 'Cannot join room "no": not allowed' } },
    "no-answer": {
      error: { code: "forbidden", message: 'Cannot join room "no-answer": not allowed' },
    },
    later: { data: { room: "later", joined: true } },
    "later-no": {
      error: { code: "forbidden", message: 'Cannot join room "later-no": not allowed' },
    },
    vip: { error: { code: "vip-only", message: "Members only" } },
    "vip-later": { error: { code: "vip-only", message: "Members only" } },
    bug: { error: { code: "internal", message: "Internal error" } },
    "bug-later": { error: { code: "internal", message: "Internal error" } },
  };
  let id = 0;
  for (const room of Object.keys(verdicts)) {
    await t.step(room, async () => {
      const opened = await open();
      request(opened, "$join", ++id, { room });
      await settle();
      const answer = reply(opened.socket, id);
      if (answer.data) {
        assert.equal(answer.data.room, expected[room].data.room);
        assert.equal(answer.data.joined, true);
        assert.equal(answer.data.seq, 0);
        assert.match(answer.data.epoch, /^[0-9a-f]{12}$/);
        assert.ok(!("recovered" in answer.data), "recovered only with since");
        assert.ok(opened.session.rooms.has(room));
      } else {
        assert.deepEqual(answer.error, expected[room].error);
        assert.ok(!opened.session.rooms.has(room));
      }
    });
  }
  assert.equal(errors.length, 2, "the two bugs reached onError");
  assert.equal(server.stats.joins, 2);
  assert.equal(server.stats.joinsRefused, 7);
  await server.shutdown();
});

Deno.test("$join of a room the session is in answers joined: false; $leave answers left", async () => {
  const { server, open } = v1Server(allow);
  const opened = await open();
  opened.session.rooms.join("r"); // by the server
  request(opened, "$join", 1, { room: "r" });
  assert.equal(reply(opened.socket, 1).data.joined, false);
  request(opened, "$leave", 2, { room: "r" });
  request(opened, "$leave", 3, { room: "r" });
  assert.deepEqual(reply(opened.socket, 2).data, { room: "r", left: true });
  assert.deepEqual(reply(opened.socket, 3).data, { room: "r", left: false });
  assert.equal(opened.session.rooms.has("r"), false);
  await server.shutdown();
});

Deno.test("$join over maxRoomsPerSession is refused: limit", async () => {
  const { server, open } = v1Server({ ...allow, maxRoomsPerSession: 1 });
  const opened = await open();
  request(opened, "$join", 1, { room: "a" });
  request(opened, "$join", 2, { room: "b" });
  request(opened, "$join", 3, { room: "a" }); // already in: no new place taken
  assert.equal(reply(opened.socket, 1).data.joined, true);
  assert.deepEqual(reply(opened.socket, 2).error, {
    code: "limit",
    message: 'Cannot join room "b": the session is already in 1 rooms',
  });
  assert.equal(reply(opened.socket, 3).data.joined, false);
  await server.shutdown();
});

Deno.test("a $join authorized after its session closed is not joined", async () => {
  let allowNow: (ok: boolean) => void = () => {};
  const { server, open } = v1Server({
    authorizeJoin: () => new Promise<boolean>((resolve) => allowNow = resolve),
  });
  const opened = await open();
  request(opened, "$join", 1, { room: "r" });
  await opened.session.close();
  allowNow(true);
  await settle();
  assert.equal(server.rooms.size, 0);
  assert.equal(server.stats.joinsRefused, 1);
  assert.equal(reply(opened.socket, 1), undefined, "nothing is sent to a closed session");
  await server.shutdown();
});

Deno.test("a $join or $leave with a bad room or since is answered invalid, with issues", async (t) => {
  const { server, open } = v1Server(allow);
  const opened = await open();
  const table: [string, unknown, Json[]][] = [
    ["no object", "lobby", [{ path: [], message: "Expected an object { room, since? }" }]],
    ["no room", {}, [{ path: ["room"], message: "Expected a string" }]],
    ["an empty name", { room: "" }, [{ path: ["room"], message: "Expected 1 to 255 UTF-8 bytes" }]],
    ["a long name", { room: "é".repeat(128) }, [{
      path: ["room"],
      message: "Expected 1 to 255 UTF-8 bytes",
    }]],
    ["a bad since", { room: "r", since: { seq: -1, epoch: "" } }, [
      { path: ["since", "seq"], message: "Expected an integer from 0" },
      { path: ["since", "epoch"], message: "Expected a string of 1 to 64 characters" },
    ]],
    ["since not an object", { room: "r", since: 5 }, [
      { path: ["since", "seq"], message: "Expected an integer from 0" },
      { path: ["since", "epoch"], message: "Expected a string of 1 to 64 characters" },
    ]],
  ];
  let id = 0;
  for (const [name, data, issues] of table) {
    await t.step(name, () => {
      request(opened, "$join", ++id, data);
      const { error } = reply(opened.socket, id);
      assert.equal(error.code, "invalid");
      assert.equal(error.message, 'Invalid message: Invalid input for "$join"');
      assert.deepEqual(error.issues, issues);
    });
  }
  await t.step("$leave", () => {
    request(opened, "$leave", ++id, { room: 5 });
    assert.equal(reply(opened.socket, id).error.code, "invalid");
  });
  assert.equal(server.stats.invalidMessages, table.length + 1);
  assert.deepEqual([...opened.session.rooms.current], []);
  await server.shutdown();
});

Deno.test("$join ids follow issue 11's requests: usable, not in flight, bounded", async () => {
  const held: (() => void)[] = [];
  const { server, open } = v1Server({
    maxRequestsInFlight: 2,
    maxConcurrentHandlers: 4,
    authorizeJoin: () => new Promise<boolean>((resolve) => held.push(() => resolve(true))),
  });
  const opened = await open();
  request(opened, "$join", "one", { room: "r" });
  request(opened, "$join", 1, { room: "r" });
  request(opened, "$join", 1, { room: "s" });
  request(opened, "$join", 2, { room: "s" });
  request(opened, "$join", 3, { room: "t" });
  const all = envelopes(opened.socket);
  assert.deepEqual(all.filter((e) => e.topic === "$error").map((e) => e.data.message), [
    'Invalid message: Request "$join" needs an "id": an integer from 0 to 9007199254740991',
    "Invalid message: Request id 1 is already in flight",
  ]);
  assert.equal(reply(opened.socket, 3).error.code, "too-many-requests");
  held.forEach((release) => release());
  await settle();
  assert.deepEqual([...opened.session.rooms.current].sort(), ["r", "s"]);
  await server.shutdown();
});

Deno.test("$join is the server's own: validate() never sees it, a plain session's reaches onMessage", async () => {
  const validated: string[] = [];
  const messages: string[] = [];
  const { server, open } = v1Server({
    ...allow,
    validate: (envelope) => validated.push(envelope.topic) > 0,
    onMessage: (_session, message) => void messages.push(message.topic),
  });
  const v1 = await open();
  const plain = await open("");
  request(v1, "$join", 1, { room: "r" });
  request(v1, "say", 2, "hi");
  request(plain, "$join", 1, { room: "r" });
  assert.deepEqual(validated, ["say", "$join"]);
  assert.deepEqual(messages, ["say", "$join"]);
  assert.equal(reply(v1.socket, 1).data.joined, true);
  assert.equal(plain.session.rooms.has("r"), false);
  await server.shutdown();
});

Deno.test("$join works beside a contract; its topics stay reserved", async () => {
  const contract = defineContract({ client: { say: type<string>() } });
  const { server, open } = v1Server({ ...allow, contract } as never);
  const opened = await open();
  request(opened, "$join", 1, { room: "r" });
  opened.connection.message('{"topic":"say","data":"hi"}');
  assert.equal(reply(opened.socket, 1).data.joined, true);
  assert.deepEqual(topics(opened.socket), ["$hello", "$reply"]);
  await server.shutdown();
});

Deno.test("a room a v1 client joined gets seq on each message, encoded once for every member", async () => {
  const { server, open } = v1Server(allow);
  const v1 = await open();
  const plain = await open("");
  const outsider = await open("");
  outsider.session.rooms.join("quiet");
  plain.session.rooms.join("r");
  server.publish("r", "before", 0); // nobody joined with $join yet: no seq
  request(v1, "$join", 1, { room: "r" });
  let encoded = 0;
  const data = { toJSON: () => (encoded++, "x") };
  server.publish("r", "said", data as never);
  server.publish("r", "said", data as never);
  server.publish("quiet", "said", data as never);
  await endOfTick();
  assert.equal(encoded, 3, "once per publish, whoever receives it");
  assert.deepEqual(roomMessages(envelopes(v1.socket)), [[1, "x"], [2, "x"]]);
  assert.deepEqual(envelopes(plain.socket), [
    { topic: "before", data: 0 },
    { topic: "said", data: "x", room: "r", seq: 1 },
    { topic: "said", data: "x", room: "r", seq: 2 },
  ]);
  assert.deepEqual(envelopes(outsider.socket), [{ topic: "said", data: "x" }]);
  server.publishBinary("r", new Uint8Array([1]));
  assert.deepEqual(server.stats.historyMessages, 2, "binary frames are not kept");
  await server.shutdown();
});

Deno.test("join with since: the missed messages in order, then the reply, then live ones; none twice", async () => {
  const { server, open } = v1Server(allow);
  const first = await open();
  request(first, "$join", 1, { room: "r" });
  const { epoch } = reply(first.socket, 1).data;
  for (let n = 1; n <= 5; n++) server.publish("r", "n", n);
  await endOfTick();
  await first.session.close(); // gone after 3
  for (let n = 6; n <= 8; n++) server.publish("r", "n", n); // nobody in the room: kept
  const again = await open();
  request(again, "$join", 1, { room: "r", since: { seq: 3, epoch } });
  server.publish("r", "n", 9);
  await endOfTick();
  const got = envelopes(again.socket).slice(1);
  assert.deepEqual(got.map((e) => e.topic === "$reply" ? "reply" : e.seq), [
    4,
    5,
    6,
    7,
    8,
    "reply",
    9,
  ]);
  assert.deepEqual(got[5].data, { room: "r", joined: true, seq: 8, epoch, recovered: true });
  assert.equal(server.stats.messagesReplayed, 5);
  await server.shutdown();
});

Deno.test("a session already in the room that joins with since is replayed, and gets nothing twice", async () => {
  const { server, open } = v1Server(allow);
  const opened = await open();
  request(opened, "$join", 1, { room: "r" });
  const { epoch } = reply(opened.socket, 1).data;
  for (let n = 1; n <= 3; n++) server.publish("r", "n", n);
  request(opened, "$join", 2, { room: "r", since: { seq: 1, epoch } });
  await endOfTick();
  assert.deepEqual(roomMessages(envelopes(opened.socket)).map(([seq]) => seq), [1, 2, 3, 2, 3]);
  assert.deepEqual(reply(opened.socket, 2).data, {
    room: "r",
    joined: false,
    seq: 3,
    epoch,
    recovered: true,
  });
  await server.shutdown();
});

Deno.test("recovered: false says gap when the window lost the next message, epoch when the history did", async () => {
  const { server, open, timers } = v1Server({
    ...allow,
    history: { maxMessages: 2, maxAge: 1000 },
  });
  const a = await open();
  request(a, "$join", 1, { room: "r" });
  const { epoch } = reply(a.socket, 1).data;
  for (let n = 1; n <= 5; n++) server.publish("r", "n", n);
  request(a, "$join", 2, { room: "r", since: { seq: 2, epoch } });
  assert.deepEqual(reply(a.socket, 2).data, {
    room: "r",
    joined: false,
    seq: 5,
    epoch,
    recovered: false,
    reason: "gap",
  });
  request(a, "$join", 3, { room: "r", since: { seq: 5, epoch: "0123456789ab" } });
  assert.equal(reply(a.socket, 3).data.reason, "epoch");
  // Everyone leaves; nothing is published for maxAge: the room's history is dropped.
  await a.session.close();
  timers.tick(1000);
  const b = await open();
  request(b, "$join", 1, { room: "r", since: { seq: 5, epoch } });
  const answer = reply(b.socket, 1).data;
  assert.equal(answer.reason, "epoch");
  assert.equal(answer.seq, 0);
  assert.notEqual(answer.epoch, epoch);
  assert.equal(server.stats.unrecovered, 3);
  assert.equal(server.stats.historyRoomsDropped, 1);
  assert.ok(server.stats.historyEvicted >= 3);
  await server.shutdown();
});

Deno.test("history: false: $join answers without a position, and since is never recovered", async () => {
  const { server, open } = v1Server({ ...allow, history: false });
  const opened = await open();
  request(opened, "$join", 1, { room: "r" });
  request(opened, "$join", 2, { room: "r", since: { seq: 1, epoch: "abc" } });
  server.publish("r", "n", 1);
  await endOfTick();
  assert.deepEqual(reply(opened.socket, 1).data, { room: "r", joined: true });
  assert.deepEqual(reply(opened.socket, 2).data, {
    room: "r",
    joined: false,
    recovered: false,
    reason: "epoch",
  });
  assert.deepEqual(envelopes(opened.socket).at(-1), { topic: "n", data: 1 });
  assert.equal(server.history, undefined);
  await server.shutdown();
});

Deno.test("a new server sharing the history after shutdown() resumes: recovered true, the full sequence", async () => {
  const timers = new FakeTimers();
  const old = v1Server(allow, timers);
  const listener = await old.open();
  request(listener, "$join", 1, { room: "r" });
  const { epoch } = reply(listener.socket, 1).data;
  for (let n = 1; n <= 10; n++) old.server.publish("r", "n", n);
  await endOfTick();
  await old.server.shutdown();
  const seen = roomMessages(envelopes(listener.socket));
  const last = seen.at(-1)![0];

  const restarted = v1Server({ ...allow, history: old.server.history }, timers);
  for (let n = 11; n <= 15; n++) restarted.server.publish("r", "n", n); // before anyone is back
  const back = await restarted.open();
  request(back, "$join", 1, { room: "r", since: { seq: last, epoch } });
  for (let n = 16; n <= 20; n++) restarted.server.publish("r", "n", n);
  await endOfTick();
  const all = [...seen, ...roomMessages(envelopes(back.socket))];
  assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => [i + 1, i + 1]));
  assert.deepEqual(reply(back.socket, 1).data, {
    room: "r",
    joined: true,
    seq: 15,
    epoch,
    recovered: true,
  });
  await restarted.server.shutdown();
});

Deno.test("a room's history is held while it has members, released when the last leaves", async () => {
  const { server, open, timers } = v1Server({ ...allow, history: { maxAge: 1000 } });
  const a = await open();
  const b = await open("");
  request(a, "$join", 1, { room: "r" });
  b.session.rooms.join("r");
  request(a, "$leave", 2, { room: "r" });
  timers.tick(5000);
  assert.equal(server.history!.tracks("r"), true, "b is still there");
  b.session.rooms.leave("r");
  timers.tick(999);
  assert.equal(server.history!.tracks("r"), true);
  timers.tick(1);
  assert.equal(server.history!.tracks("r"), false);
  assert.equal(server.stats.historyRooms, 0);
  await server.shutdown();
});

Deno.test("validateOutbound checks a publish that reaches nobody, in a kept room or not", async () => {
  const contract = defineContract({ server: { n: type<number>() } });
  const { server, open } = v1Server({ ...allow, contract, validateOutbound: true } as never);
  const opened = await open();
  request(opened, "$join", 1, { room: "kept" });
  await opened.session.close(); // "kept" is kept, with nobody in it
  for (const room of ["kept", "empty"]) {
    assert.throws(() => server.publish(room, "nope" as never, 1 as never), TypeError);
    assert.equal(server.publish(room, "n" as never, 1 as never).recipients, 0);
  }
  assert.equal(server.stats.historyMessages, 1, "only the valid message to the kept room");
  assert.throws(() => server.broadcast("nope" as never, 1 as never), TypeError);
  await server.shutdown();
});
