import type { Envelope } from "./protocol.ts";

/**
 * Maps each topic to the type of its data, e.g.
 * `{ chat: { text: string }; typing: boolean }`: what a contract gives a
 * server. Without one, any topic and unknown data.
 */
export type EventMap = Record<string, unknown>;

/**
 * An inbound text message typed by an event map: a union of
 * {@linkcode Envelope}s, one per topic, so narrowing on `topic` types `data`.
 * Under a contract, each topic's data is what its schema outputs.
 *
 * @typeParam Events The event map of inbound messages.
 */
export type Message<Events extends object> = {
  [K in keyof Events & string]: Envelope<K, Events[K]>;
}[keyof Events & string];
