/**
 * A server with a contract on the fake socket, recording what its hooks
 * see: for the contract's and the requests' unit tests.
 */
import type { EnvelopeError } from "../src/errors.ts";
import type { ServerOptions } from "../src/options.ts";
import { Server } from "../src/server.ts";
import type { CloseCause } from "../src/session.ts";
import { type Opened, openSession } from "./_fake_socket.ts";

/** What {@linkcode openContractSession} returns. */
// deno-lint-ignore no-explicit-any
export interface ContractSession extends Opened<undefined, any, any> {
  // deno-lint-ignore no-explicit-any
  readonly server: Server<undefined, any, any, any>;
  /** Every message `onMessage` got. */
  readonly messages: { topic: string; data: unknown }[];
  /** Every error `onInvalidMessage` got. */
  readonly invalid: EnvelopeError[];
  /** Every reason `onRejectedMessage` got. */
  readonly rejected: string[];
  /** Every error `onError` got. */
  readonly errors: unknown[];
  /** Every cause `onClose` got. */
  readonly closes: CloseCause[];
  /** Sends a value as JSON text from the client. */
  send(value: unknown): void;
  /** The text frames the client got, parsed. */
  // deno-lint-ignore no-explicit-any
  texts(): any[];
}

/**
 * Makes a server with these options (a `contract` among them) whose hooks
 * record what they see, and opens a session on a fake socket that reports
 * closes at once.
 *
 * @param options The server's options; the recording hooks are overridden by any given.
 * @returns The server, the session and what was recorded.
 */
export async function openContractSession(
  options: Record<string, unknown>,
): Promise<ContractSession> {
  const messages: { topic: string; data: unknown }[] = [];
  const invalid: EnvelopeError[] = [];
  const rejected: string[] = [];
  const errors: unknown[] = [];
  const closes: CloseCause[] = [];
  // deno-lint-ignore no-explicit-any
  const server: Server<undefined, any, any, any> = new Server({
    onMessage: (_, message) => void messages.push(message),
    onInvalidMessage: (_, error) => void invalid.push(error),
    onRejectedMessage: (_, reason) => void rejected.push(reason),
    onError: (error) => void errors.push(error),
    onClose: (_, cause) => void closes.push(cause),
    ...options,
    // deno-lint-ignore no-explicit-any
  } as ServerOptions<undefined, any, any, any>);
  const opened = await openSession(server, { closeReport: "sync" });
  return {
    ...opened,
    server,
    messages,
    invalid,
    rejected,
    errors,
    closes,
    send: (value) => opened.connection.message(JSON.stringify(value)),
    texts: () => opened.socket.texts(),
  };
}
