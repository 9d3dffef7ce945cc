import type { StandardSchemaV1 } from "./standard_schema.ts";

/**
 * The messages and requests a server and its clients exchange, with a
 * schema for each: made by {@linkcode defineContract}, passed to the
 * server's `contract` option.
 *
 * @typeParam In Each client topic's data, as its schema outputs it.
 * @typeParam Out Each server topic's data, as its schema accepts it.
 * @typeParam Req Each request's `input` (as its schema outputs it) and
 *   `output` (as its schema accepts it).
 *
 * @example The types a contract carries
 * ```ts
 * import { type Contract, defineContract, type } from "@switchboard/ws";
 *
 * const contract = defineContract({
 *   client: { say: type<string>() },
 *   requests: { add: { input: type<[number, number]>(), output: type<number>() } },
 * });
 * const typed: Contract<
 *   { say: string },
 *   Record<never, never>,
 *   { add: { input: [number, number]; output: number } }
 * > = contract;
 * // For your own helpers: the data of "say", as onMessage gets it.
 * type Say = NonNullable<typeof typed.types>["client"]["say"]; // string
 * const line: Say = "hello";
 * ```
 */
export interface Contract<
  In extends object,
  Out extends object,
  Req extends Record<string, { input: unknown; output: unknown }>,
> {
  /** Client topic to the schema of its data. */
  readonly client: Readonly<Record<string, StandardSchemaV1>>;
  /** Server topic to the schema of its data. */
  readonly server: Readonly<Record<string, StandardSchemaV1>>;
  /** Request name to the schemas of its input and its output. */
  readonly requests: Readonly<
    Record<string, { readonly input: StandardSchemaV1; readonly output: StandardSchemaV1 }>
  >;
  /** Type-only: never set at run time. */
  readonly types?: { readonly client: In; readonly server: Out; readonly requests: Req };
}

/**
 * A schema that checks nothing and only carries a type: for a topic or a
 * request without a validator. Its data reaches the handler as the client
 * sent it, so check it yourself.
 *
 * @typeParam T The data's type.
 * @returns A schema that accepts every value, typed `T`.
 *
 * @example Usage
 * ```ts
 * import { defineContract, Server, type } from "@switchboard/ws";
 *
 * const contract = defineContract({
 *   client: { say: type<string>() },
 *   server: { said: type<{ from: string; text: string }>() },
 * });
 * const server = new Server({
 *   contract,
 *   onMessage(session, message) {
 *     // message.data is a string, as sent: unchecked.
 *     server.broadcast("said", { from: session.id, text: String(message.data) });
 *   },
 * });
 * ```
 */
export function type<T>(): StandardSchemaV1<T, T> {
  return UNCHECKED as StandardSchemaV1<T, T>;
}

/** The schema {@linkcode type} returns: it checks nothing. */
export const UNCHECKED: StandardSchemaV1 = Object.freeze({
  "~standard": Object.freeze({
    version: 1 as const,
    vendor: "switchboard",
    validate: (value: unknown) => ({ value }),
  }),
});

/**
 * Defines the contract between a server and its clients: a schema for the
 * data of each topic a client sends (`client`), each topic the server sends
 * (`server`), and the input and output of each request (`requests`). A
 * schema is any Standard Schema v1 object (Zod, Valibot, ArkType, Effect
 * Schema, one written by hand) or {@linkcode type} for types alone.
 *
 * Given as the server's `contract`, it types `onMessage` (each topic's data
 * as its schema outputs it), `send` and `publish` (as server schemas accept
 * it) and the `requests` handlers, and it checks every inbound message
 * before any handler sees it: an unknown topic or invalid data is counted,
 * reported to `onInvalidMessage` and answered with a `$error` (see
 * PROTOCOL.md). Outbound data is checked only under `validateOutbound`.
 *
 * Names are 1 to 128 characters and do not start with `$` (the control
 * topics'); a request's name is not also a client topic.
 *
 * @typeParam C Client topic to schema.
 * @typeParam S Server topic to schema.
 * @typeParam R Request name to its input and output schemas.
 * @param definition The schemas, each group optional.
 * @returns The contract, frozen.
 * @throws {TypeError} If an entry is not a Standard Schema v1 object, or a name is not allowed.
 *
 * @example Usage
 * ```ts
 * import { defineContract, RequestError, Server, type StandardSchemaV1 } from "@switchboard/ws";
 *
 * // Any Standard Schema works: z.string(), v.string(), type("string")...
 * const text: StandardSchemaV1<string> = {
 *   "~standard": {
 *     version: 1,
 *     vendor: "example",
 *     validate: (v) => typeof v === "string" ? { value: v } : { issues: [{ message: "Not text" }] },
 *   },
 * };
 * const contract = defineContract({
 *   client: { say: text },
 *   server: { said: text },
 *   requests: { shout: { input: text, output: text } },
 * });
 * const server = new Server({
 *   contract,
 *   onMessage(session, message) {
 *     server.broadcast("said", message.data); // message.data: string, checked
 *   },
 *   requests: {
 *     shout(session, input) {
 *       if (input === "") throw new RequestError("empty", "Nothing to shout");
 *       return input.toUpperCase();
 *     },
 *   },
 * });
 * ```
 */
export function defineContract<
  C extends Record<string, StandardSchemaV1> = Record<never, never>,
  S extends Record<string, StandardSchemaV1> = Record<never, never>,
  R extends Record<
    string,
    { readonly input: StandardSchemaV1; readonly output: StandardSchemaV1 }
  > = Record<never, never>,
>(
  definition: { readonly client?: C; readonly server?: S; readonly requests?: R },
): Contract<
  { [K in keyof C]: StandardSchemaV1.InferOutput<C[K]> },
  { [K in keyof S]: StandardSchemaV1.InferInput<S[K]> },
  {
    [K in keyof R]: {
      input: StandardSchemaV1.InferOutput<R[K]["input"]>;
      output: StandardSchemaV1.InferInput<R[K]["output"]>;
    };
  }
> {
  if (typeof definition !== "object" || definition === null) {
    throw new TypeError("Cannot define contract: expected { client, server, requests }");
  }
  const client = _schemas("client", definition.client);
  const server = _schemas("server", definition.server);
  const requests: Record<string, { input: StandardSchemaV1; output: StandardSchemaV1 }> = {};
  for (const [name, request] of _entries("requests", definition.requests)) {
    if (Object.hasOwn(client, name)) {
      throw new TypeError(`Cannot define contract: "${name}" is both a client topic and a request`);
    }
    if (typeof request !== "object" || request === null) {
      throw new TypeError(`Cannot define contract: request "${name}" needs { input, output }`);
    }
    const { input, output } = request as { input?: unknown; output?: unknown };
    requests[name] = Object.freeze({
      input: _schema(`request "${name}" input`, input),
      output: _schema(`request "${name}" output`, output),
    });
  }
  return Object.freeze({ client, server, requests: Object.freeze(requests) });
}

function _entries(group: string, map: unknown): [string, unknown][] {
  if (map === undefined) return [];
  if (typeof map !== "object" || map === null) {
    throw new TypeError(`Cannot define contract: "${group}" must be an object`);
  }
  const entries = Object.entries(map);
  for (const [name] of entries) {
    if (name.length === 0 || name.length > _MAX_NAME || name.startsWith("$")) {
      throw new TypeError(
        `Cannot define contract: ${group} name "${name}" must have 1 to ${_MAX_NAME} characters and not start with "$"`,
      );
    }
  }
  return entries;
}

function _schemas(group: string, map: unknown): Readonly<Record<string, StandardSchemaV1>> {
  const schemas: Record<string, StandardSchemaV1> = {};
  for (const [name, schema] of _entries(group, map)) {
    schemas[name] = _schema(`${group} topic "${name}"`, schema);
  }
  return Object.freeze(schemas);
}

function _schema(what: string, value: unknown): StandardSchemaV1 {
  if (schemaProps(value) === undefined) {
    throw new TypeError(`Cannot define contract: ${what} is not a Standard Schema v1 object`);
  }
  return value as StandardSchemaV1;
}

const _MAX_NAME = 128;

/**
 * The Standard Schema properties of a value, or `undefined` if it is not a
 * v1 schema. `~standard` is looked up with `in`, not as an own key: Zod 4
 * defines it as a getter, and an ArkType schema is a function.
 */
export function schemaProps(value: unknown): StandardSchemaV1.Props | undefined {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) {
    return undefined;
  }
  if (!("~standard" in value)) return undefined;
  const props = (value as StandardSchemaV1)["~standard"];
  if (typeof props !== "object" || props === null) return undefined;
  return props.version === 1 && typeof props.validate === "function" ? props : undefined;
}
