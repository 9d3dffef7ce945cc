import type { ConnectorSettings } from "./_connector.ts";
import type { Clock } from "./_requests.ts";
import { BATCH_PROTOCOL, V1_BATCH_PROTOCOL, V1_PROTOCOL } from "./_wire.ts";
import type { ClientOptions, NetworkEvents, WebSocketConstructor } from "./options.ts";

/** A client's options, checked and with their defaults. */
export interface Settings extends ConnectorSettings {
  readonly validateOutbound: boolean;
  readonly validateInbound: boolean;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly dropOldest: boolean;
  readonly requestTimeout: number;
}

/**
 * Checks the options and fills in the defaults.
 *
 * @throws {TypeError} If the URL or an option has the wrong shape, or no
 *   `WebSocket` is given and there is no global one.
 * @throws {RangeError} If a number is out of bounds.
 */
export function resolveSettings(
  url: string | URL,
  // deno-lint-ignore no-explicit-any
  options: ClientOptions<any, any, any>,
): Settings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot connect: options must be an object");
  }
  const reconnect = options.reconnect === false ? {} : options.reconnect ?? {};
  const WebSocket = options.WebSocket ??
    (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocket !== "function") {
    throw new TypeError("Cannot connect: no WebSocket constructor (pass the WebSocket option)");
  }
  const params = options.params;
  if (params !== undefined && typeof params !== "function" && typeof params !== "object") {
    throw new TypeError('Invalid option "params": expected an object or a function');
  }
  const protocols = options.protocols ?? [];
  if (!Array.isArray(protocols) || protocols.some((p) => typeof p !== "string")) {
    throw new TypeError('Invalid option "protocols": expected an array of strings');
  }
  const overflow = options.overflow ?? "drop-newest";
  if (overflow !== "drop-newest" && overflow !== "drop-oldest") {
    throw new TypeError(`Invalid option "overflow": "${overflow}"`);
  }
  const random = options.random ?? Math.random;
  if (typeof random !== "function") throw new TypeError('Invalid option "random"');
  const grace = options.heartbeatGrace;
  return {
    url: _url(url),
    protocols: [..._own(options), ...protocols],
    params,
    WebSocket,
    clock: _clock(options.timers),
    random,
    network: options.network === undefined ? _defaultNetwork() : options.network,
    reconnect: options.reconnect !== false,
    base: _number("reconnect.base", reconnect.base, 500, 1),
    cap: _number("reconnect.cap", reconnect.cap, 20_000, 1),
    resetAfter: _number("reconnect.resetAfter", reconnect.resetAfter, 5_000, 0),
    maxFailedAttempts: _number("reconnect.maxFailedAttempts", reconnect.maxFailedAttempts, 20, 1),
    connectTimeout: _number("connectTimeout", options.connectTimeout, 5_000, 1),
    heartbeatGrace: grace === undefined ? undefined : _number("heartbeatGrace", grace, 0, 0),
    closeTimeout: _number("closeTimeout", options.closeTimeout, 5_000, 0),
    validateOutbound: options.validateOutbound ?? true,
    validateInbound: options.validateInbound ?? false,
    maxQueueMessages: _number("maxQueueMessages", options.maxQueueMessages, 256, 0),
    maxQueueBytes: _number("maxQueueBytes", options.maxQueueBytes, 1_048_576, 0),
    dropOldest: overflow === "drop-oldest",
    requestTimeout: _number("requestTimeout", options.requestTimeout, 10_000, 1),
  };
}

/**
 * The subprotocols the client offers first. With `batch`, v1 with batch
 * frames and plain v1 too: a server with `batch` off picks v1 rather than
 * nothing (a server that picks none fails the connection).
 */
// deno-lint-ignore no-explicit-any
function _own(options: ClientOptions<any, any, any>): string[] {
  if (options.protocol === false) return options.batch ? [BATCH_PROTOCOL] : [];
  return options.batch ? [V1_BATCH_PROTOCOL, V1_PROTOCOL] : [V1_PROTOCOL];
}

/** A timeout given to one call: a positive number of ms (`Infinity` allowed). */
export function checkTimeout(what: string, ms: unknown): number {
  return _number(what, ms, 0, 1);
}

function _number(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < min) {
    throw new RangeError(`Invalid option "${name}": expected a number of at least ${min}`);
  }
  return value;
}

/** An absolute `ws:` or `wss:` URL; `http(s):` becomes `ws(s):`; relative to the page in a browser. */
function _url(url: string | URL): URL {
  let base: string | undefined;
  try {
    base = (globalThis as { location?: { href?: string } }).location?.href;
  } catch {
    base = undefined; // Deno without --location throws
  }
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new TypeError(`Cannot connect to "${url}": not a URL`);
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(`Cannot connect to "${url}": expected a ws:, wss:, http: or https: URL`);
  }
  return parsed;
}

function _clock(timers: ClientOptions<object, object, never>["timers"]): Clock {
  const g = globalThis;
  return {
    setTimeout: timers?.setTimeout ?? ((fn, ms) => g.setTimeout(fn, ms)),
    clearTimeout: timers?.clearTimeout ??
      ((id) => g.clearTimeout(id as ReturnType<typeof setTimeout>)),
    now: timers?.now ?? (() => performance.now()),
  };
}

/** The browser's `online` / `offline` events and `navigator.onLine`, where there are some. */
function _defaultNetwork(): NetworkEvents | null {
  const g = globalThis as {
    addEventListener?: unknown;
    removeEventListener?: unknown;
    navigator?: { onLine?: unknown };
  };
  if (typeof g.addEventListener !== "function" || typeof g.removeEventListener !== "function") {
    return null;
  }
  const target = globalThis as unknown as Pick<
    NetworkEvents,
    "addEventListener" | "removeEventListener"
  >;
  return {
    get onLine() {
      return g.navigator?.onLine !== false;
    },
    addEventListener: (type, listener) => target.addEventListener(type, listener),
    removeEventListener: (type, listener) => target.removeEventListener(type, listener),
  };
}
