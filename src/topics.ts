import type { Envelope } from "./protocol.ts";

/**
 * Maps each topic to the type of its data, e.g.
 * `{ chat: { text: string }; typing: boolean }`. The default of every
 * topic map: any topic, unknown data. Your own maps may be types or
 * interfaces.
 */
export type EventMap = Record<string, unknown>;

/**
 * An inbound text message typed by an event map: a union of
 * {@linkcode Envelope}s, one per topic, so narrowing on `topic` types `data`.
 *
 * @typeParam Events The event map of inbound messages.
 */
export type Message<Events extends object> = {
  [K in keyof Events & string]: Envelope<K, Events[K]>;
}[keyof Events & string];

/**
 * The topics a server receives (`In`) and sends (`Out`), carried as types.
 * Pass the result of {@linkcode defineTopics} as the `topics` option.
 *
 * @typeParam In The event map of messages from clients.
 * @typeParam Out The event map of messages to clients.
 */
export interface Topics<In extends object, Out extends object> {
  /** Type-only: the inbound event map. Never set at run time. */
  readonly in?: In;
  /** Type-only: the outbound event map. Never set at run time. */
  readonly out?: Out;
}

/**
 * Declares a server's inbound and outbound topics so that `send`, `publish`
 * and `onMessage` are typed, while the context type is still inferred.
 * It checks nothing at run time: envelopes are validated by the
 * `validate` option.
 *
 * @typeParam In The event map of messages from clients.
 * @typeParam Out The event map of messages to clients.
 * @returns A type carrier for the `topics` option.
 *
 * @example Usage
 * ```ts
 * import { defineTopics, Server } from "@switchboard/ws";
 *
 * const server = new Server({
 *   topics: defineTopics<{ say: string }, { said: { from: string; text: string } }>(),
 *   context: () => ({ name: "ada" }),
 *   onMessage(session, message) {
 *     // message.data is a string; session.ctx.name is a string
 *     server.publish("lobby", "said", { from: session.ctx.name, text: message.data });
 *   },
 * });
 * ```
 */
export function defineTopics<In extends object, Out extends object>(): Topics<In, Out> {
  return {};
}
