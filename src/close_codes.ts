/**
 * The WebSocket close codes switchboard sends and reports, by name.
 *
 * | name | code | sent when |
 * | --- | --- | --- |
 * | `NORMAL` | 1000 | `session.close()` without a code |
 * | `GOING_AWAY` | 1001 | `server.shutdown()`; Deno also reports it on an idle timeout |
 * | `PROTOCOL_ERROR` | 1002 | the runtime saw a broken frame |
 * | `NO_STATUS` | 1005 | reported only: the peer closed without a code |
 * | `ABNORMAL` | 1006 | reported only: the connection dropped without a close frame |
 * | `INVALID_PAYLOAD` | 1007 | a malformed envelope, with `invalidMessage: "close"` |
 * | `POLICY_VIOLATION` | 1008 | a limit the server enforces was broken |
 * | `MESSAGE_TOO_BIG` | 1009 | an inbound message over `maxMessageBytes` |
 * | `INTERNAL_ERROR` | 1011 | an unexpected server error |
 * | `TRY_AGAIN_LATER` | 1013 | the send queue overflowed under the `close` policy (slow consumer) |
 *
 * @example Usage
 * ```ts
 * import { CloseCode } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CloseCode.MESSAGE_TOO_BIG, 1009);
 * ```
 */
export const CloseCode: {
  readonly NORMAL: 1000;
  readonly GOING_AWAY: 1001;
  readonly PROTOCOL_ERROR: 1002;
  readonly NO_STATUS: 1005;
  readonly ABNORMAL: 1006;
  readonly INVALID_PAYLOAD: 1007;
  readonly POLICY_VIOLATION: 1008;
  readonly MESSAGE_TOO_BIG: 1009;
  readonly INTERNAL_ERROR: 1011;
  readonly TRY_AGAIN_LATER: 1013;
} = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
});
