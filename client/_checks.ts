import { type Contract, defineContract, schemaProps, UNCHECKED } from "../src/contract.ts";
import type { StandardSchemaV1 } from "../src/standard_schema.ts";

type _Schemas = Map<string, StandardSchemaV1.Props | null>;

/**
 * A contract made ready for a client: the schemas by name (type-only ones
 * as `null`), checked synchronously. Outbound checks throw a `TypeError`
 * at the call site; inbound ones return the error instead.
 */
export class Checks {
  readonly #outbound: boolean;
  readonly #inbound: boolean;
  readonly #client: _Schemas | undefined;
  readonly #server: _Schemas | undefined;
  readonly #input: _Schemas | undefined;
  readonly #output: _Schemas | undefined;

  // deno-lint-ignore no-explicit-any
  constructor(contract: Contract<any, any, any> | undefined, outbound: boolean, inbound: boolean) {
    if (contract !== undefined) contract = defineContract(contract); // checks one made by hand
    this.#outbound = contract !== undefined && outbound;
    this.#inbound = contract !== undefined && inbound;
    if (contract === undefined) return;
    this.#client = _map(Object.entries(contract.client));
    this.#server = _map(Object.entries(contract.server));
    this.#input = _map(Object.entries(contract.requests).map(([k, r]) => [k, r.input]));
    this.#output = _map(Object.entries(contract.requests).map(([k, r]) => [k, r.output]));
  }

  /** Whether inbound data is checked. */
  get inbound(): boolean {
    return this.#inbound;
  }

  /**
   * Checks a message to send.
   *
   * @throws {TypeError} If the topic is not a client topic or the data is invalid.
   */
  message(topic: string, data: unknown): void {
    if (!this.#outbound) return;
    const error = _check(this.#client!, topic, data, "send", "a client topic");
    if (error !== undefined) throw error;
  }

  /**
   * Checks a request's input.
   *
   * @throws {TypeError} If the name is not a request or the input is invalid.
   */
  input(name: string, input: unknown): void {
    if (!this.#outbound) return;
    const error = _check(this.#input!, name, input, "request", "a request");
    if (error !== undefined) throw error;
  }

  /** Checks a server message: the error if it is refused. */
  serverMessage(topic: string, data: unknown): TypeError | undefined {
    if (!this.#inbound) return undefined;
    return _check(this.#server!, topic, data, "receive", "a server topic");
  }

  /** Checks a request's output: the error if it is refused. */
  output(name: string, value: unknown): TypeError | undefined {
    if (!this.#inbound) return undefined;
    return _check(this.#output!, name, value, "accept the output of", "a request");
  }
}

function _map(entries: [string, StandardSchemaV1][]): _Schemas {
  return new Map(
    entries.map(([name, schema]) => [name, schema === UNCHECKED ? null : schemaProps(schema)!]),
  );
}

function _check(
  schemas: _Schemas,
  name: string,
  value: unknown,
  verb: string,
  what: string,
): TypeError | undefined {
  const schema = schemas.get(name);
  if (schema === undefined) {
    return new TypeError(`Cannot ${verb} "${name}": not ${what} of the contract`);
  }
  if (schema === null) return undefined;
  let result;
  try {
    result = schema.validate(value);
  } catch (cause) {
    return new TypeError(`Cannot ${verb} "${name}": the validator failed`, { cause });
  }
  if (result instanceof Promise) {
    result.catch(() => {}); // its outcome is not awaited
    return new TypeError(`Cannot check "${name}": its schema is async`);
  }
  if (typeof result !== "object" || result === null) {
    return new TypeError(`Cannot ${verb} "${name}": the validator returned no result`);
  }
  if (result.issues === undefined) return undefined;
  return new TypeError(`Cannot ${verb} "${name}": ${_describe(result.issues)}`, {
    cause: result.issues,
  });
}

/** The first three issues in one line, each with its path. */
function _describe(issues: readonly StandardSchemaV1.Issue[]): string {
  if (!Array.isArray(issues)) return "invalid";
  const shown = issues.slice(0, 3).map((issue) => {
    const path = (issue.path ?? []).map((k: PropertyKey | StandardSchemaV1.PathSegment) =>
      String(typeof k === "object" ? k.key : k)
    );
    return path.length > 0 ? `${path.join(".")}: ${issue.message}` : String(issue.message);
  });
  return shown.join("; ") + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : "");
}
