// Type-level tests of the client: they pass when this file type-checks.
// Each `assertType<IsExact<A, B>>(true)` fails to compile unless A and B
// are the same type, and each `// @ts-expect-error` unless the next line
// is a type error. The runtime part only opens and closes the clients.
import { type Client, connect, type ServerMessage } from "../client/mod.ts";
import { defineContract, type } from "../client/mod.ts";
import { FakeNet } from "./_fake_ws.ts";

type IsExact<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? ((<T>() => T extends B ? 1 : 2) extends (<T>() => T extends A ? 1 : 2) ? true : false)
  : false;

function assertType<T extends boolean>(_expectTrue: T): void {}

const contract = defineContract({
  client: { say: type<{ room: string; text: string }>(), ping: type<undefined>() },
  server: { said: type<{ user: string; text: string }>(), tick: type<number>() },
  requests: { profile: { input: type<{ id: number }>(), output: type<{ name: string }>() } },
});

const options = { WebSocket: new FakeNet().WebSocket, network: null };

Deno.test("a contract types send, on and request", async () => {
  const client = connect("ws://a.test/", { ...options, contract });
  client.send("say", { room: "lobby", text: "hi" });
  client.send("ping", undefined);
  // Never called: these lines only have to (fail to) type-check.
  const _wrong = () => {
    // @ts-expect-error: wrong data
    client.send("say", { room: "lobby" });
    // @ts-expect-error: not a client topic
    client.send("said", { user: "a", text: "b" });
    // @ts-expect-error: wrong input
    client.request("profile", { id: "1" });
    // @ts-expect-error: not a request
    client.request("say", { room: "", text: "" });
  };

  client.on("said", (data, message) => {
    assertType<IsExact<typeof data, { user: string; text: string }>>(true);
    assertType<IsExact<typeof message, ServerMessage<"said", { user: string; text: string }>>>(
      true,
    );
    assertType<IsExact<typeof message.room, string | undefined>>(true);
  });
  client.on("tick", (n) => assertType<IsExact<typeof n, number>>(true));
  // @ts-expect-error: not a server topic
  client.on("say", () => {});

  const pending = client.request("profile", { id: 1 });
  pending.catch(() => {}); // rejects at close()
  assertType<IsExact<typeof pending, Promise<{ name: string }>>>(true);
  await client.close();
});

Deno.test("without a contract, any topic and any data", async () => {
  const client = connect("ws://a.test/", options);
  client.send("anything", { x: 1 });
  client.on("whatever", (data) => assertType<IsExact<typeof data, unknown>>(true));
  const pending = client.request("any", 1);
  pending.catch(() => {});
  assertType<IsExact<typeof pending, Promise<unknown>>>(true);
  await client.close();
});

Deno.test("types alone: connect<In, Out, Req>() without a run-time contract", async () => {
  const client: Client<{ say: string }, { said: string }, Record<never, never>> = connect<
    { say: string },
    { said: string },
    Record<never, never>
  >("ws://a.test/", options);
  client.send("say", "hi");
  // @ts-expect-error: wrong data
  client.send("say", 1);
  client.on("said", (s) => assertType<IsExact<typeof s, string>>(true));
  await client.close();
});
