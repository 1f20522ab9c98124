// Checks a form's inputs against an action's params before the action runs, with the rules
// and messages of the Python SDK, so that the example servers of every language refuse the
// same forms the same way.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";

import { FieldType, type Param } from "./gen/jetactions/v1/actions_pb.js";

/** Django's wording for a missing required input, which Jet Admin users know. */
export const REQUIRED = "This field is required.";

// A number in plain decimal notation: no "NaN", "Infinity", hex or "_".
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Checks every input, so the user sees all problems at once.
 * @returns The messages per input name, or undefined when every input is fine.
 */
export function validate(
  params: readonly Param[],
  inputs: JsonObject | undefined,
): Record<string, string[]> | undefined {
  const errors: Record<string, string[]> = {};
  for (const param of params) {
    const raw = inputs?.[param.name];
    const message = missing(param, raw) ? (param.required ? REQUIRED : "") : check(param, raw!);
    if (message) {
      errors[param.name] = [message];
    }
  }
  return Object.keys(errors).length ? errors : undefined;
}

// An absent or null input; "" too, except for text inputs, where it is a value (but still
// not enough for a required one).
function missing(param: Param, raw: JsonValue | undefined): boolean {
  if (raw === undefined || raw === null) {
    return true;
  }
  const text = param.field === FieldType.CHAR || param.field === FieldType.TEXT;
  return raw === "" && (!text || param.required);
}

// What is wrong with a present input, or "".
function check(param: Param, raw: JsonValue): string {
  if (param.options.length) {
    const picked = param.options.some((option) => sameChoice(raw, json(option.value)));
    return picked ? "" : `Select a valid choice. ${text(raw)} is not one of the available choices.`;
  }
  switch (param.field) {
    case FieldType.BOOLEAN:
      return boolean(raw) === undefined ? "Enter true or false." : "";
    case FieldType.DECIMAL:
      return decimal(raw) === undefined ? "Enter a number." : "";
    default: // the text inputs, and a select whose options come from the server
      return typeof raw === "string" || typeof raw === "number" ? "" : "Enter a valid text.";
  }
}

// Forms send numbers as strings, so "1" picks the option 1; booleans only match booleans.
function sameChoice(raw: JsonValue, choice: JsonValue | undefined): boolean {
  if (JSON.stringify(raw) === JSON.stringify(choice)) {
    return true;
  }
  return typeof raw === "string" && typeof choice === "number" && raw.trim() === text(choice);
}

/**
 * A DecimalField input, which Jet sends as a number or a string; undefined if invalid.
 * `value` is a double (±Infinity or 0 beyond a double's range); `positive` is decided, for a
 * string, on its digits, so that "1e-400" is positive and "1e400" valid, as they are as exact
 * decimals.
 */
export function decimal(raw: JsonValue | undefined): { value: number; positive: boolean } | undefined {
  if (typeof raw === "number") {
    return Number.isFinite(raw) ? { value: raw, positive: raw > 0 } : undefined;
  }
  const text = typeof raw === "string" ? raw.trim() : "";
  if (!PLAIN_NUMBER.test(text)) {
    return undefined;
  }
  const mantissa = text.toLowerCase().split("e")[0] ?? "";
  return { value: Number(text), positive: !text.startsWith("-") && /[1-9]/.test(mantissa) };
}

/** A BooleanField input: true/false, 1/0, or those as strings; undefined if invalid. */
export function boolean(raw: JsonValue | undefined): boolean | undefined {
  if (typeof raw === "boolean") {
    return raw;
  }
  if (raw === 0 || raw === 1) {
    return raw === 1;
  }
  if (typeof raw === "string") {
    const word = raw.trim().toLowerCase();
    if (word === "true" || word === "1") return true;
    if (word === "false" || word === "0") return false;
  }
  return undefined;
}

/** A Value as plain JSON; an unset Value is undefined. */
export function json(value: Value | undefined): JsonValue | undefined {
  return value?.kind.case === undefined ? undefined : toJson(ValueSchema, value);
}

/**
 * A JSON value for a human: strings as they are, whole numbers without a fraction, anything
 * else as JSON.
 */
export function text(raw: JsonValue | undefined): string {
  if (raw === undefined) {
    return "";
  }
  if (typeof raw === "string") {
    return raw;
  }
  return JSON.stringify(raw);
}
