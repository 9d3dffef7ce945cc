// The UTF-8 length of a string, for the byte bounds of queues, limits and room names.

/**
 * Counts the bytes of a string's UTF-8 encoding without encoding it.
 * A lone surrogate counts 3 bytes, as `TextEncoder` writes U+FFFD for it.
 * Internal: the server's byte bounds use it.
 *
 * The scratch memory it encodes into is written and never read, so the
 * result depends on the text alone.
 *
 * @param text The string.
 * @returns Its UTF-8 length in bytes.
 */
export function utf8Length(text: string): number {
  // Encoding into scratch memory is memcpy-fast in every runtime; the result
  // is discarded. A chunk of _CHUNK code units needs at most 3 bytes each.
  if (text.length <= _CHUNK) return _ENCODER.encodeInto(text, _SCRATCH).written;
  let bytes = 0;
  for (let start = 0; start < text.length;) {
    let end = Math.min(start + _CHUNK, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--; // keep a pair whole
    bytes += _ENCODER.encodeInto(text.slice(start, end), _SCRATCH).written;
    start = end;
  }
  return bytes;
}

const _SCRATCH = new Uint8Array(64 * 1024);
const _CHUNK = Math.floor(_SCRATCH.length / 3);
const _ENCODER = new TextEncoder();

/**
 * Cuts a string to at most `max` UTF-8 bytes, never inside a character.
 *
 * @param text The string.
 * @param max The most bytes.
 * @returns `text`, or its longest prefix that fits.
 */
export function truncateUtf8(text: string, max: number): string {
  if (text.length * 3 <= max || utf8Length(text) <= max) return text;
  let end = Math.min(text.length, max);
  while (end > 0 && utf8Length(text.slice(0, end)) > max) end--;
  const high = text.charCodeAt(end - 1);
  const low = text.charCodeAt(end);
  if (high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) end--; // never half a pair
  return text.slice(0, end);
}
