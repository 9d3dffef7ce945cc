import { ContractRules } from "./contract_rules.ts";
import { type History, type HistoryOptions, MemoryHistory } from "./history.ts";
import type { Envelope } from "./protocol.ts";
import type { OverflowPolicy } from "./send_queue.ts";
import type { ServerOptions } from "./options.ts";

/** The gate's settings: who may upgrade. */
export interface GateSettings {
  readonly origins: "*" | "same-host" | ReadonlySet<string>;
  readonly allowMissingOrigin: boolean;
  readonly handshakeTimeout: number;
  readonly maxSessions: number;
  readonly maxSessionsPerClient: number;
  readonly protocols: readonly string[];
  readonly batch: boolean;
  /** Protocol v1 is accepted. */
  readonly protocol: boolean;
}

/** The outbound side's settings: the send queue and when it is used. */
export interface OutboundSettings {
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly overflow: OverflowPolicy;
  readonly highWaterMark: number;
}

/** The inbound side's settings: limits, rate, handler slots, validation. */
export interface InboundSettings {
  readonly maxMessageBytes: number;
  readonly invalidMessage: "reply" | "close" | "ignore";
  readonly validate: ((envelope: Envelope) => boolean) | undefined;
  /** The contract, ready to route and check; `undefined` without one. */
  readonly contract: ContractRules | undefined;
  readonly maxRequestsInFlight: number;
  /** Tokens per second, i.e. thousandths of a token per millisecond; 0 turns the limit off. */
  readonly rate: number;
  readonly burst: number;
  /** Bytes a millisecond; 0 turns the byte limit off. */
  readonly bytesPerMs: number;
  readonly burstBytes: number;
  readonly closeAfter: number;
  readonly maxConcurrentHandlers: number;
  readonly maxPendingMessages: number;
  readonly maxPendingBytes: number;
}

/** What a connection's life needs: close and idle timeouts, rooms. */
export interface LifeSettings {
  readonly closeTimeout: number;
  readonly idleTimeout: number;
  readonly maxRoomsPerSession: number;
}

/** What v1 sessions are told and sent: the heartbeat, and the limits `$hello` announces. */
export interface ProtocolSettings {
  /** Milliseconds; 0 for none. */
  readonly heartbeat: number;
  /** The limits in `$hello` (0: none). */
  readonly limits: Readonly<Record<string, number>>;
}

/** The timer functions, each bound and present. */
export interface Clock {
  readonly setTimeout: (fn: () => void, ms: number) => unknown;
  readonly clearTimeout: (id: unknown) => void;
  readonly now: () => number;
  /** Runs a function at the end of this event-loop turn. */
  readonly setImmediate: (fn: () => void) => unknown;
}

/** Every option checked and defaulted, grouped by who uses it; frozen. */
export interface Settings {
  readonly gate: GateSettings;
  readonly outbound: OutboundSettings;
  readonly inbound: InboundSettings;
  readonly life: LifeSettings;
  readonly protocol: ProtocolSettings;
  readonly clock: Clock;
}

const _MiB = 1024 * 1024;

/**
 * Checks every limit of `options` and fills in the defaults.
 *
 * @throws {RangeError} If a limit is out of range or an option has an unknown value.
 */
// deno-lint-ignore no-explicit-any
export function resolveOptions(options: ServerOptions<any, any, any, any>): Settings {
  if (options.requests !== undefined && options.contract === undefined) {
    throw new TypeError('Invalid option "requests": request handlers need a contract');
  }
  const rateLimit = options.rateLimit ?? { rate: 100, burst: 200 };
  const maxMessageBytes = _limit("maxMessageBytes", options.maxMessageBytes ?? _MiB, 1);
  const timers = options.timers ?? {};
  return _freeze({
    gate: {
      origins: _origins(options.origins ?? "same-host"),
      allowMissingOrigin: options.allowMissingOrigin ?? true,
      handshakeTimeout: _limit("handshakeTimeout", options.handshakeTimeout ?? 5000, 1),
      maxSessions: _limit("maxSessions", options.maxSessions ?? 50_000, 1, Infinity),
      maxSessionsPerClient: _limit(
        "maxSessionsPerClient",
        options.maxSessionsPerClient ?? 1024,
        1,
        Infinity,
      ),
      protocols: [...(options.protocols ?? [])],
      batch: options.batch ?? true,
      protocol: options.protocol ?? true,
    },
    outbound: {
      maxQueueMessages: _limit("maxQueueMessages", options.maxQueueMessages ?? 1024, 1, 2 ** 30),
      maxQueueBytes: _limit("maxQueueBytes", options.maxQueueBytes ?? _MiB, 1),
      overflow: _oneOf("overflow", options.overflow ?? "close", _POLICIES),
      highWaterMark: _limit("highWaterMark", options.highWaterMark ?? 64 * 1024, 1),
    },
    inbound: {
      maxMessageBytes,
      invalidMessage: _oneOf("invalidMessage", options.invalidMessage ?? "reply", _INVALID),
      validate: options.validate,
      contract: options.contract === undefined
        ? undefined
        : new ContractRules(options.contract, options.validateOutbound ?? false),
      maxRequestsInFlight: _limit("maxRequestsInFlight", options.maxRequestsInFlight ?? 16, 1),
      rate: rateLimit === false ? 0 : _positive("rateLimit.rate", rateLimit.rate),
      burst: rateLimit === false
        ? 0
        : _limit("rateLimit.burst", rateLimit.burst ?? rateLimit.rate, 1),
      bytesPerMs: rateLimit === false
        ? 0
        : _positive("rateLimit.bytes", rateLimit.bytes ?? _MiB) / 1000,
      burstBytes: rateLimit === false
        ? 0
        : _limit("rateLimit.burstBytes", rateLimit.burstBytes ?? maxMessageBytes, 1),
      closeAfter: rateLimit === false
        ? Infinity
        : _limit("rateLimit.closeAfter", rateLimit.closeAfter ?? 50, 1, Infinity),
      maxConcurrentHandlers: _limit(
        "maxConcurrentHandlers",
        options.maxConcurrentHandlers ?? 1,
        1,
        Infinity,
      ),
      maxPendingMessages: _limit(
        "maxPendingMessages",
        options.maxPendingMessages ?? 64,
        1,
        2 ** 30,
      ),
      maxPendingBytes: _limit("maxPendingBytes", options.maxPendingBytes ?? 2 * _MiB, 1),
    },
    life: {
      closeTimeout: _limit("closeTimeout", options.closeTimeout ?? 5000, 0),
      idleTimeout: _limit("idleTimeout", options.idleTimeout ?? 30, 0),
      maxRoomsPerSession: _limit(
        "maxRoomsPerSession",
        options.maxRoomsPerSession ?? 128,
        1,
        Infinity,
      ),
    },
    protocol: {
      heartbeat: _limit("heartbeat", options.heartbeat ?? 15_000, 0),
      limits: Object.freeze({
        maxMessageBytes,
        rate: rateLimit === false ? 0 : rateLimit.rate,
        burst: rateLimit === false ? 0 : rateLimit.burst ?? rateLimit.rate,
        bytes: rateLimit === false ? 0 : rateLimit.bytes ?? _MiB,
        maxRoomsPerSession: Math.min(options.maxRoomsPerSession ?? 128, Number.MAX_SAFE_INTEGER),
        maxRequestsInFlight: options.maxRequestsInFlight ?? 16,
      }),
    },
    clock: {
      setTimeout: timers.setTimeout?.bind(timers) ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimeout: timers.clearTimeout?.bind(timers) ??
        ((id) => clearTimeout(id as number)),
      now: timers.now?.bind(timers) ?? (() => performance.now()),
      setImmediate: timers.setImmediate?.bind(timers) ?? _endOfTurn(),
    },
  });
}

/** The runtime's `setImmediate` (Deno and Bun have it), else a zero-delay timer. */
function _endOfTurn(): (fn: () => void) => unknown {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  return immediate === undefined ? (fn) => setTimeout(fn, 0) : (fn) => immediate(fn);
}

/**
 * The server's history from its `history` option: `undefined` for none.
 *
 * @throws {RangeError} If a bound is out of range.
 */
export function historyOf(
  history: boolean | HistoryOptions | History = true,
  clock: Clock,
): History | undefined {
  if (history === false) return undefined;
  if (history === true) return new MemoryHistory({ now: clock.now });
  if (typeof (history as History).append === "function") return history as History;
  return new MemoryHistory({ now: clock.now, ...history as HistoryOptions });
}

/**
 * The origin of a URL, lower-cased and without a default port; `undefined`
 * for `"null"` or what is not a URL.
 */
export function normalOrigin(origin: string): string | undefined {
  try {
    const normal = new URL(origin).origin;
    return normal === "null" ? undefined : normal;
  } catch {
    return undefined;
  }
}

function _origins(origins: "same-host" | "*" | readonly string[]): GateSettings["origins"] {
  if (origins === "*" || origins === "same-host") return origins;
  if (typeof origins === "string") {
    throw new RangeError(
      `Invalid option "origins": expected "same-host", "*" or a list of origins, got "${origins}"`,
    );
  }
  return new Set(origins.map((origin) => {
    const normal = normalOrigin(origin);
    if (normal === undefined) {
      throw new RangeError(`Invalid option "origins": "${origin}" is not an origin`);
    }
    return normal;
  }));
}

function _limit(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === Infinity && max === Infinity) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Invalid option "${name}": expected an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

function _positive(name: string, value: number): number {
  if (typeof value !== "number" || !(value > 0) || value === Infinity) {
    throw new RangeError(`Invalid option "${name}": expected a positive number, got ${value}`);
  }
  return value;
}

const _POLICIES: readonly OverflowPolicy[] = ["close", "drop-oldest", "drop-newest"];
const _INVALID: readonly ("reply" | "close" | "ignore")[] = ["reply", "close", "ignore"];

function _oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): T {
  if (allowed.includes(value)) return value;
  throw new RangeError(
    `Invalid option "${name}": expected one of ${
      allowed.map((a) => `"${a}"`).join(", ")
    }, got "${value}"`,
  );
}

function _freeze(settings: Settings): Settings {
  for (const group of Object.values(settings)) Object.freeze(group);
  return Object.freeze(settings);
}
