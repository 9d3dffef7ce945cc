/**
 * Standard Schema v1 objects written by hand, with no library: for the unit
 * tests, the conformance app (which Bun runs too, so no `npm:` here) and the
 * benchmarks. Each is what a user without a validator library would write.
 */
import type { StandardSchemaV1 } from "../mod.ts";

/** A schema from its validate function. */
export function schema<Input, Output = Input>(
  validate: (
    value: unknown,
  ) => StandardSchemaV1.Result<Output> | Promise<StandardSchemaV1.Result<Output>>,
  vendor = "tests",
): StandardSchemaV1<Input, Output> {
  return { "~standard": { version: 1, vendor, validate } };
}

/** A failure with one issue. */
export function fail(message: string, path?: PropertyKey[]): StandardSchemaV1.FailureResult {
  return { issues: [path === undefined ? { message } : { message, path }] };
}

/** A string. */
export const text: StandardSchemaV1<string> = schema((v) =>
  typeof v === "string" ? { value: v } : fail("Expected a string")
);

/** A finite number. */
export const num: StandardSchemaV1<number> = schema((v) =>
  typeof v === "number" && Number.isFinite(v) ? { value: v } : fail("Expected a number")
);

/** Exactly `null` (or absent data). */
export const nothing: StandardSchemaV1<null | undefined> = schema((v) =>
  v === null || v === undefined ? { value: v } : fail("Expected nothing")
);

/** A chat line: `{ text }` with 1 to 200 characters, nothing else. */
export const line: StandardSchemaV1<{ text: string }> = schema((v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return fail("Expected an object");
  const issues: StandardSchemaV1.Issue[] = [];
  const value = v as Record<string, unknown>;
  if (typeof value.text !== "string") issues.push({ path: ["text"], message: "Expected a string" });
  else if (value.text.length < 1 || value.text.length > 200) {
    issues.push({ path: ["text"], message: "Expected 1 to 200 characters" });
  }
  for (const key of Object.keys(value)) {
    if (key !== "text") issues.push({ path: [{ key }], message: "Unknown key" });
  }
  return issues.length > 0 ? { issues } : { value: { text: value.text as string } };
});

/** A transform: a string in, `{ text, words }` out, trimmed and counted. */
export const words: StandardSchemaV1<string, { text: string; words: number }> = schema((v) => {
  if (typeof v !== "string") return fail("Expected a string");
  const trimmed = v.trim();
  return { value: { text: trimmed, words: trimmed === "" ? 0 : trimmed.split(/\s+/).length } };
});

/** A list of numbers: one issue per item that is not a number (a list of issues of any length). */
export const numbers: StandardSchemaV1<number[]> = schema((v) => {
  if (!Array.isArray(v)) return fail("Expected a list");
  const issues: StandardSchemaV1.Issue[] = [];
  v.forEach((item, i) => {
    if (typeof item !== "number") {
      issues.push({ path: [i], message: `Expected a number, got ${JSON.stringify(item)}` });
    }
  });
  return issues.length > 0 ? { issues } : { value: v as number[] };
});

/**
 * The same checks as `inner`, answered after `ms` milliseconds (or a
 * macrotask): an async validator.
 */
export function later<I, O>(inner: StandardSchemaV1<I, O>, ms = 0): StandardSchemaV1<I, O> {
  return schema<I, O>(
    (v) => new Promise((resolve) => setTimeout(() => resolve(inner["~standard"].validate(v)), ms)),
  );
}

/**
 * An async validator answered by hand: each value waits until the test
 * calls `settle(i)` for its place `i` in arrival order (or `settleAll()`).
 */
export function manual<T>(inner: StandardSchemaV1<T>): {
  schema: StandardSchemaV1<T>;
  settle(i: number): void;
  readonly waiting: number;
} {
  const pending: (() => void)[] = [];
  return {
    schema: schema<T>((v) =>
      new Promise((resolve) => pending.push(() => resolve(inner["~standard"].validate(v))))
    ),
    settle: (i) => pending[i](),
    get waiting() {
      return pending.length;
    },
  };
}
