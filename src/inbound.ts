import { CloseCode } from "./close_codes.ts";
import { type Call, TooMany, type Verdict } from "./contract_rules.ts";
import { isControlTopic, routeControl } from "./client_rooms.ts";
import { EnvelopeError } from "./errors.ts";
import type { InboundSettings } from "./settings.ts";
import {
  decodeEnvelope,
  decodeRequest,
  encodeInvalid,
  encodeReplyError,
  type Envelope,
} from "./protocol.ts";
import { RingBuffer } from "./ring_buffer.ts";
import type { CloseCause } from "./session.ts";
import type { Tally } from "./stats.ts";
import { utf8Length } from "./utf8.ts";

/** What an {@linkcode Inbound} side asks of the connection that owns it. */
export interface InboundOwner {
  /** `false` once the connection is closing: nothing more is handled. */
  readonly open: boolean;
  /**
   * Runs the user's handler for a decoded envelope, a request or a binary message.
   *
   * @returns `true` if the handler is async; `settled` runs once it settles.
   */
  dispatch(message: Envelope | Call | Uint8Array<ArrayBuffer>, settled: () => void): boolean;
  /** A message was rejected (counted already). */
  rejected(reason: RejectReason): void;
  /** A text frame was not a valid envelope, or the contract refused it (counted already). */
  invalid(error: EnvelopeError): void;
  /** Sends the client an `$error` envelope. */
  reply(code: string, message: string): void;
  /** Sends the client a control message's text. */
  post(text: string): void;
  /** Closes the connection for what the client did. */
  fail(cause: Omit<CloseCause, "rooms">): void;
}

/** Why an inbound message was rejected: see `onRejectedMessage`. */
export type RejectReason = "rate-limited" | "busy" | "too-many-requests";

/** A verdict of the contract, held until the ones before it are applied. */
interface _Ticket {
  verdict: Verdict | undefined;
}

/** What every inbound side of one server shares. */
export interface InboundShared {
  readonly settings: InboundSettings;
  readonly tally: Tally;
  now(): number;
}

/**
 * The inbound side of one connection, made on its first frame. Each frame
 * goes through the size limit (1009), the token bucket, then, in arrival
 * order and with at most `maxConcurrentHandlers` async handlers running,
 * decoding, validation, the contract and the handler. Frames that wait for
 * a slot are held in a backlog bounded by messages and bytes. An async
 * schema holds a slot while it checks, and its verdict is applied in
 * arrival order, after those of the frames before it.
 */
export class Inbound {
  readonly #shared: InboundShared;
  readonly #owner: InboundOwner;
  /** Thousandths of a token. */
  #tokens: number;
  /** Bytes the byte bucket holds. */
  #byteTokens: number;
  /** Whole milliseconds. */
  #refilledAt: number;
  #rejectedRun = 0;
  #inflight = 0;
  #backlog: RingBuffer<string | Uint8Array<ArrayBuffer>> | undefined;
  #backlogBytes = 0;
  #settle: (() => void) | undefined;
  /** Ids of the requests under way (under a contract). */
  #calls: Set<number> | undefined;
  /** Verdicts waiting for an earlier async check, in arrival order; each holds a slot. */
  #order: _Ticket[] | undefined;
  readonly #control: boolean;
  #messagesReceived = 0;
  #invalidMessages = 0;
  #messagesRejected = 0;

  /**
   * @param shared What every inbound side of the server shares.
   * @param owner The connection.
   * @param control `true` for a v1 session: `$join` and `$leave` are requests.
   */
  constructor(shared: InboundShared, owner: InboundOwner, control = false) {
    this.#shared = shared;
    this.#owner = owner;
    this.#control = control;
    const settings = shared.settings;
    this.#tokens = settings.burst * 1000;
    this.#byteTokens = settings.burstBytes;
    this.#refilledAt = settings.rate > 0 ? Math.floor(shared.now()) : 0;
  }

  /** Messages received (text and binary, valid or not). */
  get messagesReceived(): number {
    return this.#messagesReceived;
  }

  /** Received text frames that were not valid envelopes. */
  get invalidMessages(): number {
    return this.#invalidMessages;
  }

  /** Received messages rejected by the rate limit or a full backlog. */
  get messagesRejected(): number {
    return this.#messagesRejected;
  }

  /** Received messages waiting for a handler slot now. */
  get pendingMessages(): number {
    return this.#backlog?.length ?? 0;
  }

  /** Takes one frame from the socket. */
  receive(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void {
    this.#messagesReceived++;
    const shared = this.#shared;
    shared.tally.messagesReceived++;
    const max = shared.settings.maxMessageBytes;
    let bytes: number;
    if (typeof data === "string") {
      // UTF-16 length bounds the UTF-8 size: exact only where it matters.
      bytes = data.length;
      if (bytes > max || (bytes * 3 > max && (bytes = utf8Length(data)) > max)) {
        this.#tooLarge();
        return;
      }
    } else {
      if (!(data instanceof Uint8Array)) data = new Uint8Array(data);
      bytes = data.byteLength;
      if (bytes > max) {
        this.#tooLarge();
        return;
      }
    }
    if (shared.settings.rate > 0 && !this.#takeTokens(bytes)) return;
    if (
      this.#inflight >= shared.settings.maxConcurrentHandlers ||
      (this.#backlog?.length ?? 0) > 0
    ) {
      this.#wait(data);
      return;
    }
    this.#handle(data);
  }

  /** Drops what waits in the backlog: no handler will see it (counted as rejected). */
  close(): void {
    const backlog = this.#backlog;
    if (backlog === undefined) return;
    this.#messagesRejected += backlog.length;
    this.#shared.tally.messagesRejected += backlog.length;
    this.#backlog = undefined;
    this.#backlogBytes = 0;
  }

  /** Decodes one frame and runs its handler. */
  #handle(data: string | Uint8Array<ArrayBuffer>): void {
    if (typeof data !== "string") {
      this.#dispatch(data);
      return;
    }
    const settings = this.#shared.settings;
    const contract = settings.contract;
    const control = this.#control;
    let envelope: Envelope;
    try {
      envelope = contract === undefined && !control ? decodeEnvelope(data) : decodeRequest(data);
      if (control && isControlTopic(envelope.topic)) {
        // The server's own requests: the user's validate() does not see them.
      } else if (settings.validate !== undefined && !settings.validate(envelope)) {
        throw new EnvelopeError("rejected", "Invalid envelope: rejected by validate()");
      }
    } catch (error) {
      this.#invalid(error);
      return;
    }
    const max = settings.maxRequestsInFlight;
    if (control && isControlTopic(envelope.topic)) {
      this.#route(routeControl(envelope, this.#calls ??= new Set(), max));
    } else if (contract !== undefined) {
      this.#route(contract.route(envelope, this.#calls ??= new Set(), max));
    } else {
      const { topic, data, id } = envelope;
      this.#dispatch(id === undefined ? envelope : { topic, data });
    }
  }

  /** Applies a verdict now, or once the verdicts before it are applied. */
  #route(verdict: Verdict | Promise<Verdict>): void {
    const order = this.#order;
    if (!(verdict instanceof Promise) && (order === undefined || order.length === 0)) {
      this.#apply(verdict);
      return;
    }
    const ticket: _Ticket = { verdict: undefined };
    (this.#order ??= []).push(ticket);
    this.#inflight++;
    if (!(verdict instanceof Promise)) {
      ticket.verdict = verdict;
      return;
    }
    this.#awaitVerdict(ticket, verdict);
  }

  /** Fills the ticket once the verdict settles (its own method: see `HookRunner`). */
  #awaitVerdict(ticket: _Ticket, verdict: Promise<Verdict>): void {
    verdict.then((ready) => {
      ticket.verdict = ready;
      this.#release();
    });
  }

  /** Applies the verdicts ready at the head of the order, then runs waiting frames. */
  #release(): void {
    const order = this.#order!;
    while (order.length > 0 && order[0].verdict !== undefined) {
      const verdict = order.shift()!.verdict!;
      this.#inflight--;
      if (this.#owner.open) this.#apply(verdict);
    }
    this.#pump();
  }

  #apply(verdict: Verdict): void {
    if (verdict instanceof EnvelopeError) {
      this.#invalid(verdict);
    } else if (verdict instanceof TooMany) {
      this.#count();
      this.#owner.rejected("too-many-requests");
      const max = this.#shared.settings.maxRequestsInFlight;
      this.#owner.post(
        encodeReplyError(
          verdict.id,
          "too-many-requests",
          `Request refused: ${max} requests of this session are in flight`,
        ),
      );
    } else {
      this.#dispatch(verdict);
    }
  }

  #dispatch(message: Envelope | Call | Uint8Array<ArrayBuffer>): void {
    if (this.#owner.dispatch(message, this.#settle ??= this.#settler())) this.#inflight++;
  }

  /** The callback that frees a handler slot (made once, in a method of its own: see `HookRunner`). */
  #settler(): () => void {
    return () => this.#settled();
  }

  /**
   * Takes a token from the message bucket and `bytes` from the byte bucket;
   * `false` (and neither taken) if the message is rejected. `bytes` is exact
   * for messages over a third of `maxMessageBytes`, and a lower bound (the
   * UTF-16 length) below: small messages cost no UTF-8 count.
   */
  #takeTokens(bytes: number): boolean {
    const settings = this.#shared.settings;
    // Thousandths of a token and whole milliseconds: small integers, so the
    // engine keeps them unboxed and a message allocates nothing here.
    const now = Math.floor(this.#shared.now());
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#refilledAt = now;
    this.#tokens = Math.min(settings.burst * 1000, this.#tokens + elapsed * settings.rate);
    if (settings.bytesPerMs > 0) {
      this.#byteTokens = Math.min(
        settings.burstBytes,
        this.#byteTokens + elapsed * settings.bytesPerMs,
      );
    }
    const bytesOk = settings.bytesPerMs === 0 || this.#byteTokens >= bytes;
    if (this.#tokens >= 1000 && bytesOk) {
      this.#tokens -= 1000;
      if (settings.bytesPerMs > 0) this.#byteTokens -= bytes;
      this.#rejectedRun = 0;
      return true;
    }
    this.#rejectedRun++;
    this.#reject(bytesOk ? "rate-limited" : "byte-rate", this.#rejectedRun === 1);
    if (this.#rejectedRun >= settings.closeAfter) {
      this.#owner.fail({
        kind: "policy",
        code: CloseCode.POLICY_VIOLATION,
        reason: "Rate limit exceeded",
      });
    }
    return false;
  }

  /** Holds a frame until a handler slot frees, within the backlog's bounds. */
  #wait(data: string | Uint8Array<ArrayBuffer>): void {
    const settings = this.#shared.settings;
    const bytes = _heldBytes(data);
    const backlog = this.#backlog ??= new RingBuffer(settings.maxPendingMessages);
    if (
      backlog.length >= settings.maxPendingMessages ||
      this.#backlogBytes + bytes > settings.maxPendingBytes
    ) {
      this.#reject("busy", true);
      return;
    }
    backlog.push(data);
    this.#backlogBytes += bytes;
  }

  /** An async handler settled: run waiting frames while slots are free. */
  #settled(): void {
    this.#inflight--;
    this.#pump();
  }

  /** Runs waiting frames while slots are free. */
  #pump(): void {
    const max = this.#shared.settings.maxConcurrentHandlers;
    while (this.#backlog !== undefined && this.#backlog.length > 0 && this.#owner.open) {
      if (this.#inflight >= max) return;
      const data = this.#backlog.shift()!;
      this.#backlogBytes -= _heldBytes(data);
      this.#handle(data);
    }
  }

  /**
   * Counts a rejected message, tells the owner, and (if `reply`) the client.
   * A message over the byte limit is reported as `"rate-limited"`, with its
   * own sentence.
   */
  #reject(why: "rate-limited" | "byte-rate" | "busy", reply: boolean): void {
    const reason = why === "busy" ? "busy" : "rate-limited";
    this.#count();
    this.#owner.rejected(reason);
    if (reply) this.#owner.reply(reason, _REJECTED[why]);
  }

  /** Counts a rejected message. */
  #count(): void {
    this.#messagesRejected++;
    this.#shared.tally.messagesRejected++;
  }

  #tooLarge(): void {
    this.#shared.tally.tooLargeCloses++;
    this.#owner.fail({
      kind: "too-large",
      code: CloseCode.MESSAGE_TOO_BIG,
      reason: "Received too big message", // Bun's words, which it sends itself
    });
  }

  #invalid(error: unknown): void {
    const envelopeError = error instanceof EnvelopeError
      ? error
      : new EnvelopeError("rejected", "Invalid envelope: validate() threw", { cause: error });
    this.#invalidMessages++;
    this.#shared.tally.invalidMessages++;
    this.#owner.invalid(envelopeError);
    const policy = this.#shared.settings.invalidMessage;
    if (policy === "close") {
      this.#owner.fail({
        kind: "invalid",
        code: CloseCode.INVALID_PAYLOAD,
        reason: envelopeError.message,
        error: envelopeError,
      });
    } else if (policy === "reply") {
      if (envelopeError.code === "invalid") this.#owner.post(encodeInvalid(envelopeError));
      else this.#owner.reply(envelopeError.code, envelopeError.message);
    }
  }
}

const _REJECTED = {
  "rate-limited": "Message rejected: rate limit exceeded",
  "byte-rate": "Message rejected: byte rate limit exceeded",
  busy: "Message rejected: too many messages waiting for the handler",
} as const;

/** The memory a held inbound frame takes, as the backlog bound counts it. */
function _heldBytes(data: string | Uint8Array): number {
  return typeof data === "string" ? data.length * 2 : data.byteLength;
}
