import assert from "node:assert/strict";
import { SessionClosedError } from "../src/errors.ts";
import { RoomIndex } from "../src/rooms.ts";
import { FakeSocket, openSession, setup } from "./_fake_socket.ts";

function members<M>(index: RoomIndex<M>, room: string): M[] {
  return [...(index.get(room) ?? [])];
}

Deno.test("RoomIndex.add() creates a room and adds members once", () => {
  const index = new RoomIndex<string>();
  assert.equal(index.get("a"), undefined);
  index.add("a", "x");
  index.add("a", "y");
  index.add("a", "x");
  assert.deepEqual(members(index, "a"), ["x", "y"]);
  assert.deepEqual([...index.map.keys()], ["a"]);
});

Deno.test("RoomIndex.delete() deletes a room once it is empty", () => {
  const index = new RoomIndex<string>();
  index.add("a", "x");
  index.add("a", "y");
  index.add("b", "x");
  index.delete("a", "x");
  assert.deepEqual(members(index, "a"), ["y"]);
  index.delete("a", "y");
  assert.equal(index.get("a"), undefined);
  assert.equal(index.map.has("a"), false);
  assert.deepEqual([...index.map.keys()], ["b"]);
  index.delete("a", "y"); // an absent room: nothing happens
  index.delete("b", "nobody"); // an absent member: the room stays
  assert.deepEqual(members(index, "b"), ["x"]);
});

Deno.test("RoomIndex treats __proto__ and constructor as ordinary names", () => {
  const index = new RoomIndex<string>();
  index.add("__proto__", "x");
  index.add("constructor", "y");
  assert.deepEqual(members(index, "__proto__"), ["x"]);
  assert.deepEqual(members(index, "constructor"), ["y"]);
  assert.equal(index.get("toString"), undefined);
  index.delete("__proto__", "x");
  assert.equal(index.get("__proto__"), undefined);
});

Deno.test("SessionRooms.join() is idempotent: true, then false", async () => {
  const { server } = setup();
  const { session } = await openSession(server, { closeReport: "sync" });
  assert.equal(session.rooms.join("lobby"), true);
  assert.equal(session.rooms.join("lobby"), false);
  assert.deepEqual([...session.rooms.current], ["lobby"]);
  assert.deepEqual([...server.rooms.get("lobby")!], [session]);
  assert.equal(server.rooms.get("lobby")!.size, 1);
  session.close();
});

Deno.test("SessionRooms.leave() leaves once and deletes the empty room", async () => {
  const { server } = setup();
  const a = (await openSession(server, { closeReport: "sync" })).session;
  const b = (await openSession(server, { closeReport: "sync" })).session;
  assert.equal(a.rooms.leave("lobby"), false, "not a member yet");
  a.rooms.join("lobby");
  b.rooms.join("lobby");
  assert.equal(a.rooms.leave("lobby"), true);
  assert.equal(a.rooms.leave("lobby"), false);
  assert.deepEqual([...server.rooms.get("lobby")!], [b]);
  assert.equal(b.rooms.leave("lobby"), true);
  assert.equal(server.rooms.has("lobby"), false);
  assert.equal(server.stats.rooms, 0);
  a.close();
  b.close();
});

Deno.test("SessionRooms.has() and current follow joins and leaves", async () => {
  const { server } = setup();
  const { session } = await openSession(server, { closeReport: "sync" });
  const current = session.rooms.current;
  assert.equal(current.size, 0);
  assert.equal(session.rooms.has("a"), false);
  session.rooms.join("a");
  session.rooms.join("b");
  session.rooms.join("c");
  assert.equal(session.rooms.has("a"), true);
  assert.equal(session.rooms.has("z"), false);
  session.rooms.leave("b");
  assert.deepEqual([...session.rooms.current], ["a", "c"]);
  assert.equal(session.rooms.has("b"), false);
  session.close();
});

Deno.test("server.rooms reflects the membership of every session", async () => {
  const { server } = setup();
  const a = (await openSession(server, { closeReport: "sync" })).session;
  const b = (await openSession(server, { closeReport: "sync" })).session;
  a.rooms.join("x");
  a.rooms.join("y");
  b.rooms.join("y");
  assert.deepEqual([...server.rooms.keys()].sort(), ["x", "y"]);
  assert.deepEqual([...server.rooms.get("x")!], [a]);
  assert.deepEqual(new Set(server.rooms.get("y")), new Set([a, b]));
  assert.equal(server.stats.rooms, 2);
  a.close();
  b.close();
});

Deno.test("SessionRooms.join() on a closed or closing session throws SessionClosedError", async (t) => {
  await t.step("closing (the close not yet reported)", async () => {
    const { server, timers } = setup();
    const { session, socket } = await openSession(server, { closeReport: "manual" });
    session.close();
    assert.equal(session.state, "closing");
    assert.throws(() => session.rooms.join("lobby"), SessionClosedError);
    assert.equal(server.rooms.size, 0);
    socket.completeClose();
    assert.equal(timers.pending, 0);
  });
  await t.step("closed", async () => {
    const { server } = setup();
    const { session } = await openSession(server, { closeReport: "sync" });
    session.close();
    assert.equal(session.state, "closed");
    assert.throws(
      () => session.rooms.join("lobby"),
      (error: unknown) =>
        error instanceof SessionClosedError && error.name === "SessionClosedError" &&
        error.message.includes('"lobby"'),
    );
    assert.equal(session.rooms.leave("lobby"), false);
    assert.equal(server.rooms.size, 0);
  });
});

Deno.test("SessionRooms.join() throws TypeError for a name that is not a string", async () => {
  const { server } = setup();
  const { session } = await openSession(server, { closeReport: "sync" });
  assert.throws(() => session.rooms.join(1 as unknown as string), TypeError);
  assert.equal(server.rooms.size, 0);
  session.close();
});

Deno.test("A closing session leaves every room at once, before onClose", async (t) => {
  for (const closeReport of ["sync", "manual"] as const) {
    await t.step(
      `close reported ${closeReport === "sync" ? "inside close()" : "later"}`,
      async () => {
        const seen: { rooms: number; current: number }[] = [];
        const { server, timers } = setup({
          onClose(session) {
            seen.push({ rooms: server.rooms.size, current: session.rooms.current.size });
          },
        });
        const { session, socket } = await openSession(server, { closeReport });
        const other = (await openSession(server, { closeReport: "sync" })).session;
        session.rooms.join("a");
        session.rooms.join("b");
        other.rooms.join("b");
        session.close();
        assert.equal(session.rooms.current.size, 0, "left at the close decision");
        assert.deepEqual([...server.rooms.keys()], ["b"]);
        assert.deepEqual([...server.rooms.get("b")!], [other]);
        if (closeReport === "manual") socket.completeClose();
        assert.deepEqual(seen, [{ rooms: 1, current: 0 }]);
        other.close();
        assert.equal(server.rooms.size, 0);
        assert.equal(timers.pending, 0);
      },
    );
  }
});

Deno.test("The close cause holds the rooms a closed session was in, for onClose", async () => {
  const { server, closes } = setup();
  /** The rooms of each closed session, sorted. */
  const seen = () => closes.map((cause) => [...cause.rooms].sort());
  const { session, socket } = await openSession(server, { closeReport: "manual" });
  session.rooms.join("a");
  session.rooms.join("b");
  session.rooms.join("c");
  session.rooms.leave("b");
  assert.equal(session.closeCause, undefined, "no cause while open");
  session.close();
  assert.deepEqual([...session.closeCause!.rooms].sort(), ["a", "c"], "set at the close decision");
  assert.equal(session.rooms.current.size, 0);
  socket.completeClose();
  assert.deepEqual(seen(), [["a", "c"]]);
  assert.equal(server.rooms.size, 0);
  const quiet = (await openSession(server, { closeReport: "sync" })).session;
  quiet.close();
  assert.deepEqual(seen()[1], [], "a session in no rooms left none");
});

Deno.test("A session closed by the client leaves every room", async () => {
  const { server } = setup();
  const { session, connection } = await openSession(server);
  session.rooms.join("a");
  session.rooms.join("b");
  connection.close(1000, "bye");
  assert.equal(session.state, "closed");
  assert.equal(server.rooms.size, 0);
  assert.equal(session.rooms.current.size, 0);
});

Deno.test("__proto__ and constructor behave like any room name", async () => {
  const { server } = setup();
  const a = await openSession(server, { closeReport: "sync" });
  const b = await openSession(server, { closeReport: "sync" });
  for (const name of ["__proto__", "constructor", "hasOwnProperty", "toString", "prototype"]) {
    assert.equal(a.session.rooms.has(name), false, name);
    assert.equal(a.session.rooms.join(name), true, name);
    assert.equal(a.session.rooms.join(name), false, name);
    assert.equal(a.session.rooms.has(name), true, name);
    assert.equal(b.session.rooms.has(name), false, name);
    assert.deepEqual([...server.rooms.get(name)!], [a.session], name);
  }
  const result = server.publish("__proto__", "t", 1);
  assert.equal(result.recipients, 1);
  assert.deepEqual(a.socket.texts(), [{ topic: "t", data: 1 }]);
  assert.deepEqual(b.socket.texts(), []);
  assert.equal(a.session.rooms.leave("__proto__"), true);
  assert.equal(server.rooms.has("__proto__"), false);
  assert.equal(server.publish("__proto__", "t", 2).recipients, 0);
  assert.equal(({} as Record<string, unknown>).constructor, Object, "Object.prototype untouched");
  a.session.close();
  b.session.close();
  assert.equal(server.rooms.size, 0);
});

Deno.test("Many sessions joining and closing leave no rooms behind", async () => {
  const { server } = setup();
  const opened = [];
  for (let i = 0; i < 50; i++) opened.push(await openSession(server, { closeReport: "sync" }));
  opened.forEach(({ session }, i) => {
    session.rooms.join("all");
    session.rooms.join(`own-${i}`);
    session.rooms.join(`pair-${i >> 1}`);
  });
  assert.equal(server.rooms.size, 1 + 50 + 25);
  assert.equal(server.rooms.get("all")!.size, 50);
  for (const { session } of opened) session.close();
  assert.equal(server.rooms.size, 0);
  assert.equal(server.sessions.size, 0);
});

Deno.test("A fake socket is a Socket", () => {
  // Guards the helper the room tests rely on.
  const socket = new FakeSocket();
  socket.send("x");
  socket.close(1000, "r");
  assert.deepEqual(socket.sent, ["x"]);
  assert.deepEqual(socket.closes, [{ code: 1000, reason: "r" }]);
  assert.equal(socket.readyState, 2);
});

Deno.test("A room name must have 1 to 255 UTF-8 bytes", async () => {
  const { server } = setup();
  const { session } = await openSession(server, { closeReport: "sync" });
  assert.throws(() => session.rooms.join(""), RangeError);
  assert.equal(session.rooms.join("x".repeat(255)), true);
  assert.throws(() => session.rooms.join("x".repeat(256)), /1 to 255 bytes, got 256/);
  assert.throws(() => session.rooms.join("é".repeat(128)), /got 256/); // 128 chars, 256 bytes
  assert.equal(session.rooms.join("é".repeat(127)), true);
  assert.equal(server.rooms.size, 2);
});

Deno.test("A session may be in at most maxRoomsPerSession rooms", async () => {
  const { server } = setup({ maxRoomsPerSession: 3 });
  const { session } = await openSession(server, { closeReport: "sync" });
  for (const room of ["a", "b", "c"]) assert.equal(session.rooms.join(room), true);
  assert.equal(session.rooms.join("a"), false, "rejoining is not a new room");
  assert.throws(() => session.rooms.join("d"), /already in 3 rooms/);
  session.rooms.leave("a");
  assert.equal(session.rooms.join("d"), true);
});
