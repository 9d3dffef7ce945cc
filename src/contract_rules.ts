import { type Contract, defineContract, schemaProps, UNCHECKED } from "./contract.ts";
import { EnvelopeError } from "./errors.ts";
import type { Envelope } from "./protocol.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";

/** The outcome of one check: a value, or what is wrong (and what a validator threw). */
export type Checked = { value: unknown; issues?: undefined } | {
  issues: readonly StandardSchemaV1.Issue[];
  cause?: unknown;
};

/** The issues of a validator that threw, or returned something else than a result. */
const _BROKEN: readonly StandardSchemaV1.Issue[] = Object.freeze([
  Object.freeze({ message: "The validator failed" }),
]);

/** Runs a schema's validator: a result now, or a promise of one that never rejects. */
function _check(props: StandardSchemaV1.Props, value: unknown): Checked | Promise<Checked> {
  let result;
  try {
    result = props.validate(value);
  } catch (cause) {
    return { issues: _BROKEN, cause };
  }
  if (result instanceof Promise) {
    return result.then(_settled, (cause) => ({ issues: _BROKEN, cause }));
  }
  return _settled(result);
}

function _settled(result: StandardSchemaV1.Result<unknown>): Checked {
  if (typeof result !== "object" || result === null) {
    return { issues: _BROKEN, cause: new TypeError("validate() returned no result") };
  }
  if (result.issues === undefined) return { value: result.value };
  return Array.isArray(result.issues)
    ? { issues: result.issues }
    : { issues: _BROKEN, cause: new TypeError("validate() returned issues that are not a list") };
}

/** A request that passed its checks, on its way to its handler; it holds its id until done. */
export class Call {
  readonly topic: string;
  readonly id: number;
  readonly data: unknown;
  readonly #inFlight: Set<number>;

  constructor(topic: string, id: number, data: unknown, inFlight: Set<number>) {
    this.topic = topic;
    this.id = id;
    this.data = data;
    this.#inFlight = inFlight;
  }

  /** The request was answered: its id is free again. */
  done(): void {
    this.#inFlight.delete(this.id);
  }
}

/** A request refused because the session has `maxRequestsInFlight` under way. */
export class TooMany {
  constructor(readonly topic: string, readonly id: number) {}
}

/** What the contract makes of an inbound envelope. */
export type Verdict = Envelope | Call | TooMany | EnvelopeError;

/** Schemas of a request; `null` for a type-only one. */
interface _Request {
  readonly input: StandardSchemaV1.Props | null;
  readonly output: StandardSchemaV1.Props | null;
}

/**
 * A contract made ready for a server: the schemas by name (in `Map`s, so
 * no name reaches `Object.prototype`), type-only ones as `null`. It routes
 * and checks inbound envelopes and, when asked, outbound data.
 */
export class ContractRules {
  /** Checks data to send (`validateOutbound`), else `undefined`: see {@linkcode checkOutbound}. */
  readonly check: ((topic: string, data: unknown) => void) | undefined;
  /** Whether request outputs are checked (`validateOutbound`). */
  readonly checksOutput: boolean;
  readonly #client: Map<string, StandardSchemaV1.Props | null>;
  readonly #server: Map<string, StandardSchemaV1.Props | null>;
  readonly #requests: Map<string, _Request>;

  // deno-lint-ignore no-explicit-any
  constructor(contract: Contract<any, any, any>, validateOutbound: boolean) {
    this.checksOutput = validateOutbound;
    this.check = validateOutbound ? (topic, data) => this.checkOutbound(topic, data) : undefined;
    contract = defineContract(contract); // checks a contract made by hand as well
    this.#client = _map(contract.client);
    this.#server = _map(contract.server);
    this.#requests = new Map(
      Object.entries(contract.requests).map((
        [name, r],
      ) => [name, { input: _live(r.input), output: _live(r.output) }]),
    );
  }

  /** The request names. */
  get requestNames(): IterableIterator<string> {
    return this.#requests.keys();
  }

  /**
   * Routes and checks an envelope: a message with its data as the schema
   * outputs it, a request (its id then held in `inFlight` until it is
   * done), or why not. Never rejects.
   */
  route(envelope: Envelope, inFlight: Set<number>, max: number): Verdict | Promise<Verdict> {
    const { topic, data, id } = envelope;
    const schema = this.#client.get(topic);
    if (schema !== undefined) {
      if (schema === null) return id === undefined ? envelope : { topic, data };
      const checked = _check(schema, data);
      return checked instanceof Promise ? _messageLater(topic, checked) : _message(topic, checked);
    }
    const request = this.#requests.get(topic);
    if (request === undefined) {
      return isRequestId(id)
        ? invalidMessage(topic, `Unknown request "${_short(topic)}"`, undefined, undefined, id)
        : invalidMessage(topic, `Unknown topic "${_short(topic)}"`);
    }
    if (!isRequestId(id)) {
      return invalidMessage(
        topic,
        `Request "${topic}" needs an "id": an integer from 0 to ${Number.MAX_SAFE_INTEGER}`,
      );
    }
    if (inFlight.has(id)) return invalidMessage(topic, `Request id ${id} is already in flight`);
    if (inFlight.size >= max) return new TooMany(topic, id);
    inFlight.add(id);
    if (request.input === null) return new Call(topic, id, data, inFlight);
    const checked = _check(request.input, data);
    return checked instanceof Promise
      ? _callLater(topic, id, checked, inFlight)
      : _call(topic, id, checked, inFlight);
  }

  /**
   * Checks data to send on a server topic, synchronously.
   *
   * @throws {TypeError} If the topic is not a server topic, the data is
   *   invalid, or the schema is async.
   */
  checkOutbound(topic: string, data: unknown): void {
    const schema = this.#server.get(topic);
    if (schema === undefined) {
      throw new TypeError(`Cannot send "${topic}": not a server topic of the contract`);
    }
    if (schema === null) return;
    const checked = _check(schema, data);
    if (checked instanceof Promise) {
      throw new TypeError(`Cannot check "${topic}" before sending: its schema is async`);
    }
    if (checked.issues !== undefined) {
      throw new TypeError(`Cannot send "${topic}": ${describeIssues(checked.issues)}`, {
        cause: checked.cause ?? checked.issues,
      });
    }
  }

  /** Checks a request handler's output against its output schema. */
  checkOutput(name: string, value: unknown): Checked | Promise<Checked> {
    const schema = this.#requests.get(name)?.output ?? null;
    return schema === null ? { value } : _check(schema, value);
  }
}

function _map(
  schemas: Readonly<Record<string, StandardSchemaV1>>,
): Map<string, StandardSchemaV1.Props | null> {
  return new Map(Object.entries(schemas).map(([name, schema]) => [name, _live(schema)]));
}

/** A schema's properties, read once; `null` for a type-only schema. */
function _live(schema: StandardSchemaV1): StandardSchemaV1.Props | null {
  return schema === UNCHECKED ? null : schemaProps(schema)!;
}

function _message(topic: string, checked: Checked): Envelope | EnvelopeError {
  return checked.issues === undefined
    ? { topic, data: checked.value }
    : invalidMessage(topic, `Invalid data for "${topic}"`, checked.issues, checked.cause);
}

function _call(
  topic: string,
  id: number,
  checked: Checked,
  inFlight: Set<number>,
): Call | EnvelopeError {
  if (checked.issues === undefined) return new Call(topic, id, checked.value, inFlight);
  inFlight.delete(id);
  return invalidMessage(topic, `Invalid input for "${topic}"`, checked.issues, checked.cause, id);
}

// The async schemas' continuations, in functions of their own: a function
// that holds a closure makes its scope on every call (see `HookRunner`).
function _messageLater(
  topic: string,
  checked: Promise<Checked>,
): Promise<Envelope | EnvelopeError> {
  return checked.then((c) => _message(topic, c));
}

function _callLater(
  topic: string,
  id: number,
  checked: Promise<Checked>,
  inFlight: Set<number>,
): Promise<Call | EnvelopeError> {
  return checked.then((c) => _call(topic, id, c, inFlight));
}

/** The refusal of a message, code `"invalid"`; with an `id`, answered as a `$reply`. */
export function invalidMessage(
  topic: string,
  message: string,
  issues: readonly StandardSchemaV1.Issue[] = [],
  cause?: unknown,
  id?: number,
): EnvelopeError {
  const options = cause === undefined ? { topic, issues, id } : { cause, topic, issues, id };
  return new EnvelopeError("invalid", `Invalid message: ${message}`, options);
}

/** Whether a request id is usable: an integer from 0 to `Number.MAX_SAFE_INTEGER`. */
export function isRequestId(id: unknown): id is number {
  return Number.isSafeInteger(id) && (id as number) >= 0;
}

/** A client's topic in a sentence: at most 64 characters. */
function _short(topic: string): string {
  return topic.length > 64 ? `${topic.slice(0, 63)}…` : topic;
}

/**
 * The issues in one line, for an error message: the first three, each
 * with its path.
 */
export function describeIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const path = (issue.path ?? []).map((k) => String(typeof k === "object" ? k.key : k));
    return path.length > 0 ? `${path.join(".")}: ${issue.message}` : issue.message;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : "";
  return shown.join("; ") + more;
}
