/**
 * The engine of one socket (`src/connection.ts`), on the fake socket and
 * fake timers: the close lifecycle (open → closing → closed), close causes
 * and how a runtime's close is classified, `closeTimeout` and forced
 * releases, lingering connections, `cause.rooms`, the shutdown, and hooks
 * that throw or reject (reported to `onError`).
 */
import assert from "node:assert/strict";
import { CloseCode } from "../src/close_codes.ts";
import type { EventMap } from "../src/topics.ts";
import { type Opened, setup } from "./_fake_socket.ts";

/** The rooms of a session that was in none. */
const NO_ROOMS = new Set<string>();

// ---------------------------------------------------------------- closing

Deno.test("await session.close() resolves with the cause once the close is reported", async () => {
  const { open, closes, timers } = setup();
  const { session, socket } = await open({ closeReport: "manual" });
  let settled = false;
  const closing = session.close(4000, "bye").then((cause) => {
    settled = true;
    return cause;
  });
  assert.deepEqual(socket.closes, [{ code: 4000, reason: "bye" }]);
  assert.equal(session.state, "closing");
  assert.equal(session.closed, true);
  await Promise.resolve();
  assert.equal(settled, false, "not before the close is reported");
  assert.equal(closes.length, 0, "onClose waits for the close too");
  socket.completeClose(4000, "bye");
  const cause = await closing;
  assert.deepEqual(cause, { kind: "server", code: 4000, reason: "bye", rooms: NO_ROOMS });
  assert.equal(session.state, "closed");
  assert.equal(session.closeCause, cause);
  assert.deepEqual(closes, [cause]);
  assert.equal(timers.pending, 0, "the close timer is cleared");
});

Deno.test("await session.close() resolves at once when the runtime reports the close inside close()", async () => {
  const { open, timers, server } = setup();
  const { session, socket } = await open({ closeReport: "sync" });
  const cause = await session.close();
  assert.deepEqual(cause, { kind: "server", code: 1000, reason: "", rooms: NO_ROOMS });
  assert.deepEqual(socket.closes, [{ code: 1000, reason: "" }]);
  assert.equal(timers.pending, 0, "no close timer after a synchronous close");
  assert.equal(server.sessions.size, 0);
});

Deno.test("await session.close() resolves with forced: true after closeTimeout if the close is never reported", async () => {
  const { open, closes, timers, server } = setup({ closeTimeout: 2000 });
  const { session } = await open({ closeReport: "manual" });
  let settled = false;
  const closing = session.close(4000, "bye").then((cause) => {
    settled = true;
    return cause;
  });
  assert.deepEqual(timers.delays(), [2000]);
  timers.tick(1999);
  await Promise.resolve();
  assert.equal(settled, false);
  assert.equal(session.state, "closing");
  timers.tick(1);
  const cause = await closing;
  assert.deepEqual(cause, {
    kind: "server",
    code: 4000,
    reason: "bye",
    rooms: NO_ROOMS,
    forced: true,
  });
  assert.equal(session.state, "closed");
  assert.deepEqual(closes, [cause]);
  assert.equal(server.sessions.size, 0);
  assert.equal(timers.pending, 0);
});

Deno.test("A forced session lingers until the runtime reports its connection gone", async () => {
  const { open, closes, timers, server } = setup({ closeTimeout: 2000 });
  const { session, socket } = await open({ closeReport: "manual" });
  const closing = session.close(4000, "bye");
  timers.tick(2000);
  assert.equal((await closing).forced, true);
  assert.equal(server.stats.sessions, 0);
  assert.equal(server.stats.lingering, 1, "the runtime has not said it is gone");
  socket.completeClose();
  assert.equal(server.stats.lingering, 0);
  socket.completeClose();
  assert.equal(server.stats.lingering, 0);
  assert.equal(closes.length, 1, "the late report does not close it again");
  assert.equal(server.stats.closed, 1);
});

Deno.test("A close decided by the server is sent with its reason cut to 123 bytes", async () => {
  const { open } = setup({ invalidMessage: "close" });
  const { connection, socket } = await open({ closeReport: "sync" });
  connection.message('{"topic":' + "1".repeat(300) + "}");
  const reason = socket.closes[0].reason!;
  assert.ok(new TextEncoder().encode(reason).length <= 123);
});

Deno.test("The close cause says who closed and why", async (t) => {
  await t.step("the client, with a code", async () => {
    const { open, closes } = setup();
    const { connection, session } = await open();
    connection.close(4001, "bye");
    assert.deepEqual(closes, [{ kind: "client", code: 4001, reason: "bye", rooms: NO_ROOMS }]);
    assert.equal(session.state, "closed");
  });
  await t.step("the client, without a code (1005)", async () => {
    const { open, closes } = setup();
    (await open()).connection.close(1005, "");
    assert.deepEqual(closes, [{ kind: "client", code: 1005, reason: "", rooms: NO_ROOMS }]);
  });
  await t.step("an error, then the close", async () => {
    const { open, closes } = setup();
    const { connection } = await open();
    const error = new Error("Unexpected EOF");
    connection.error(error);
    connection.close(1006, "");
    assert.deepEqual(closes, [{ kind: "error", code: 1006, reason: "", error, rooms: NO_ROOMS }]);
  });
  await t.step("a dropped connection without an error (1006)", async () => {
    const { open, closes } = setup();
    (await open()).connection.close(1006, "");
    assert.equal(closes[0].kind, "error");
    assert.equal(closes[0].code, 1006);
  });
  await t.step("Deno's ping timeout: an error, then the close", async () => {
    const { open, closes } = setup();
    const { connection } = await open();
    const event = new ErrorEvent("error", { message: "No response from ping frame." });
    connection.error(event);
    connection.close(1001, "");
    assert.equal(closes[0].kind, "timeout");
    assert.equal(closes[0].code, 1001);
    assert.equal(closes[0].error, event);
  });
  await t.step("only the first of several errors is kept", async () => {
    const { open, closes } = setup();
    const { connection } = await open();
    const first = new Error("first");
    connection.error(first);
    connection.error(new Error("second"));
    connection.close(1006, "");
    assert.equal(closes[0].error, first);
  });
  await t.step('the adapter says "too-large" (Bun reports 1006)', async () => {
    const { open, closes, server } = setup();
    (await open()).connection.close(1006, "Received too big message", "too-large");
    assert.deepEqual(closes, [{
      kind: "too-large",
      code: CloseCode.MESSAGE_TOO_BIG,
      reason: "Received too big message",
      rooms: NO_ROOMS,
    }]);
    assert.equal(server.stats.tooLargeCloses, 1);
  });
  await t.step('the adapter says "timeout" (Bun reports 1006)', async () => {
    const { open, closes } = setup();
    (await open()).connection.close(1006, "WebSocket timed out from inactivity", "timeout");
    assert.equal(closes[0].kind, "timeout");
    assert.equal(closes[0].code, 1006);
    assert.equal(closes[0].reason, "WebSocket timed out from inactivity");
  });
  await t.step("the server: the cause stays the server's whatever the echo says", async () => {
    const { open, closes } = setup();
    const { session, socket } = await open({ closeReport: "manual" });
    session.close(4000, "mine");
    socket.completeClose(1006, "");
    assert.deepEqual(closes, [{ kind: "server", code: 4000, reason: "mine", rooms: NO_ROOMS }]);
  });
});

Deno.test("A second close report is ignored", async () => {
  const { open, closes, server } = setup();
  const { connection, session } = await open();
  connection.close(4001, "first");
  connection.close(4002, "second");
  connection.close(1006, "", "error");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].code, 4001);
  assert.equal(session.closeCause?.code, 4001);
  assert.equal(server.stats.closed, 1);
  assert.equal(server.stats.opened, 1);
});

Deno.test("A close reported while the server's close is under way finishes it once", async () => {
  const { open, closes, timers } = setup();
  const { session, connection } = await open({ closeReport: "manual" });
  const closing = session.close(4000, "bye");
  connection.close(4000, "bye");
  connection.close(4000, "bye");
  await closing;
  assert.equal(closes.length, 1);
  assert.equal(timers.pending, 0);
});

Deno.test("A socket whose close() throws is released at once, forced", async () => {
  const { open, errors, closes } = setup();
  const { session, socket } = await open();
  const failure = new Error("already gone");
  socket.close = () => {
    throw failure;
  };
  const cause = await session.close(4000, "bye");
  assert.equal(cause.forced, true);
  assert.equal(cause.kind, "server");
  assert.deepEqual(errors.map((e) => e.error), [failure]);
  assert.equal(closes.length, 1);
});

// ---------------------------------------------------------------- cause.rooms

Deno.test("cause.rooms holds the rooms the session was in, and onClose finds them left", async (t) => {
  const cases: [string, (opened: Opened<undefined, EventMap, EventMap>) => void][] = [
    ["the client closed", ({ connection }) => connection.close(4001, "bye")],
    ["the connection failed", ({ connection }) => connection.close(1006, "")],
    ["the server closed", ({ session, socket }) => {
      session.close(4000, "bye");
      socket.completeClose();
    }],
  ];
  for (const [name, close] of cases) {
    await t.step(name, async () => {
      const seen: [string[], number, number | undefined, number][] = [];
      const { open, server } = setup({
        onClose(session, cause) {
          const told = server.publish("lobby", "left", session.id);
          seen.push([[...cause.rooms].sort(), session.rooms.current.size, told.sent, told.closed]);
        },
      });
      const leaving = await open();
      const staying = await open();
      leaving.session.rooms.join("lobby");
      leaving.session.rooms.join("solo");
      leaving.session.rooms.join("gone");
      leaving.session.rooms.leave("gone");
      staying.session.rooms.join("lobby");
      close(leaving);
      assert.deepEqual(seen, [[["lobby", "solo"], 0, 1, 0]], "only the one who stayed is told");
      assert.deepEqual(staying.socket.data(), [leaving.session.id]);
      assert.deepEqual([...server.rooms.keys()], ["lobby"]);
      assert.deepEqual([...server.rooms.get("lobby")!], [staying.session]);
    });
  }
});

// ---------------------------------------------------------------- shutdown

Deno.test("A shutdown closes open sessions with 1001, keeps a closing one's cause, and forces the rest after its timeout", async () => {
  const { open, closes, timers, server } = setup();
  const closing = await open({ closeReport: "manual" });
  const idle = await open({ closeReport: "manual" });
  idle.session.rooms.join("lobby");
  closing.session.close(4000, "mine");
  const done = server.shutdown({ timeout: 1000 });
  assert.deepEqual(idle.socket.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.equal(closing.socket.closes.length, 1, "a closing session is not closed again");
  assert.equal(idle.session.closeCause?.kind, "shutdown");
  assert.equal(closing.session.closeCause?.kind, "server");
  closing.socket.completeClose();
  timers.tick(1000);
  await done;
  assert.deepEqual(closes, [
    { kind: "server", code: 4000, reason: "mine", rooms: NO_ROOMS },
    {
      kind: "shutdown",
      code: 1001,
      reason: "Server shutting down",
      rooms: new Set(["lobby"]),
      forced: true,
    },
  ]);
  assert.equal(server.stats.sessions, 0);
  assert.equal(server.stats.lingering, 1, "the idle one never answered");
  idle.socket.completeClose();
  assert.equal(server.stats.lingering, 0);
  assert.equal(timers.pending, 0);
});

// ---------------------------------------------------------------- hooks that throw

Deno.test("A throwing onMessage goes to onError and the session stays open", async () => {
  const boom = new Error("boom");
  const { open, errors } = setup({
    onMessage() {
      throw boom;
    },
  });
  const { connection, session } = await open();
  connection.message('{"topic":"x"}');
  assert.deepEqual(errors.map((e) => [e.error, e.session]), [[boom, session]]);
  assert.equal(session.state, "open");
  assert.equal(session.send("still", "here"), "sent");
});

Deno.test("A rejecting onMessage or onBinary goes to onError and the session stays open", async () => {
  const boom = new Error("async boom");
  const { promise: reported, resolve } = Promise.withResolvers<[unknown, unknown][]>();
  const seen: [unknown, unknown][] = [];
  const { open } = setup({
    onMessage: () => Promise.reject(boom),
    onBinary: async () => {
      await Promise.resolve();
      throw boom;
    },
    onError(error, session) {
      seen.push([error, session]);
      if (seen.length === 2) resolve(seen);
    },
  });
  const { connection, session } = await open();
  connection.message('{"topic":"x"}');
  connection.message(new Uint8Array(1));
  assert.deepEqual(await reported, [[boom, session], [boom, session]]);
  assert.equal(session.state, "open");
});

Deno.test("A throwing onConnect, onDrop or onClose goes to onError", async () => {
  const { open, errors } = setup({
    highWaterMark: 1,
    maxQueueMessages: 1,
    overflow: "drop-newest",
    onConnect() {
      throw new Error("connect");
    },
    onDrop() {
      throw new Error("drop");
    },
    onClose() {
      throw new Error("close");
    },
  });
  const { session, socket } = await open({ closeReport: "sync" });
  socket.bufferedAmount = 1;
  session.send("t", 1);
  assert.equal(session.send("t", 2), "dropped");
  session.close();
  assert.deepEqual(errors.map((e) => (e.error as Error).message), [
    "connect",
    "drop",
    "drop",
    "close",
  ]);
});
