/**
 * The prototype-pollution shapes a decoded message must not hold: a key
 * `__proto__` at any depth, and a `constructor` key holding an object with
 * a `prototype` key. Shared by the server's and the client's decoders; it
 * imports nothing.
 */

/** Only text with one of these can hold a forbidden key once parsed (a key may be spelled with `\u` escapes). */
const _MAY_HIDE = /__proto__|constructor|\\u/;

/**
 * Tells whether the JSON text may hold a forbidden key once parsed; when
 * not, the walk of {@linkcode forbiddenKey} can be skipped.
 */
export function mayHideForbiddenKey(text: string): boolean {
  return _MAY_HIDE.test(text);
}

/**
 * Finds a forbidden key in a parsed value, depth first without recursion.
 *
 * @returns `"__proto__"` or `"constructor.prototype"`, or `undefined` if there is none.
 */
export function forbiddenKey(root: unknown): "__proto__" | "constructor.prototype" | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== "object" || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    if (Object.hasOwn(node, "__proto__")) return "__proto__";
    const ctor = Object.hasOwn(node, "constructor")
      ? (node as { constructor: unknown }).constructor
      : undefined;
    if (typeof ctor === "object" && ctor !== null && Object.hasOwn(ctor, "prototype")) {
      return "constructor.prototype";
    }
    for (const key in node) stack.push((node as Record<string, unknown>)[key]);
  }
  return undefined;
}
