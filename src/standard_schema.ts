/**
 * The Standard Schema v1 interface (https://standardschema.dev), copied as
 * its specification recommends instead of depending on a package. Zod
 * (3.24 and later), Valibot (1.0 and later), ArkType (2.0 and later),
 * Effect Schema and others implement it, so a contract accepts a schema of
 * any of them, or one written by hand.
 *
 * @typeParam Input The type the schema accepts.
 * @typeParam Output The type it produces, after transforms and defaults.
 *
 * @example A schema written by hand
 * ```ts
 * import type { StandardSchemaV1 } from "@switchboard/ws";
 * import assert from "node:assert/strict";
 *
 * const text: StandardSchemaV1<string> = {
 *   "~standard": {
 *     version: 1,
 *     vendor: "my-app",
 *     validate: (value) =>
 *       typeof value === "string" ? { value } : { issues: [{ message: "Expected a string" }] },
 *   },
 * };
 * assert.deepEqual(text["~standard"].validate("hi"), { value: "hi" });
 * ```
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly "~standard": StandardSchemaV1.Props<Input, Output>;
}

/** The types that go with {@linkcode StandardSchemaV1}, as the specification declares them. */
export declare namespace StandardSchemaV1 {
  /** The Standard Schema properties. */
  export interface Props<Input = unknown, Output = Input> {
    /** The version of the standard: 1. */
    readonly version: 1;
    /** The name of the library that made the schema. */
    readonly vendor: string;
    /** Checks an unknown value, synchronously or not. */
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    /** The schema's types, for type inference only; never set at run time. */
    readonly types?: Types<Input, Output> | undefined;
  }

  /** The result of `validate`. */
  export type Result<Output> = SuccessResult<Output> | FailureResult;

  /** The result of a successful validation. */
  export interface SuccessResult<Output> {
    /** The value, typed (and transformed, if the schema transforms). */
    readonly value: Output;
    /** No issues: absent on success. */
    readonly issues?: undefined;
  }

  /** The result of a failed validation. */
  export interface FailureResult {
    /** What is wrong with the value. */
    readonly issues: ReadonlyArray<Issue>;
  }

  /** One thing wrong with a value. */
  export interface Issue {
    /** What is wrong, in words. */
    readonly message: string;
    /** Where in the value, as keys from its root; absent for the value as a whole. */
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }

  /** A step of an issue's path, as an object. */
  export interface PathSegment {
    /** The key. */
    readonly key: PropertyKey;
  }

  /** The types of a schema. */
  export interface Types<Input = unknown, Output = Input> {
    /** The type the schema accepts. */
    readonly input: Input;
    /** The type the schema produces. */
    readonly output: Output;
  }

  /** The type a schema accepts. */
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<
    Schema["~standard"]["types"]
  >["input"];

  /** The type a schema produces. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<
    Schema["~standard"]["types"]
  >["output"];
}
