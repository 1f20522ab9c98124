// Jet form fields from zod schemas: the `f` helpers for the Jet types zod has no word for, the
// derivation of a Param from any field schema, and the conversion of Jet's raw form values
// (numbers sent as strings, "true" for true) before zod validates them.
import { z } from "zod";

import { FieldType } from "./gen/jetactions/v1/actions_pb.js";
import type { FieldContext } from "./context.js";

export { FieldType };

/** A JSON value, as Jet sends and receives it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** One choice of a select field. */
export interface Option<V extends Json = Json> {
  readonly value: V;
  readonly name: string;
  /** A CSS colour or Jet colour name for the option's badge. */
  readonly color?: string;
}

/** Answers the options of a select field from the form's current values. */
export type OptionsSource = (ctx: FieldContext) => readonly Option[] | Promise<readonly Option[]>;

/** What a schema says about its Jet field beyond what zod knows. */
interface JetMeta {
  readonly type: FieldType;
  readonly options?: readonly Option[];
  readonly source?: OptionsSource;
  readonly relatedModel?: string;
}

// Keyed by schema object: wrapping (.optional(), .default()) keeps the inner schema, where
// fieldOf finds it again.
const jet = new WeakMap<z.ZodType, JetMeta>();

function mark<T extends z.ZodType>(schema: T, meta: JetMeta): T {
  jet.set(schema, meta);
  return schema;
}

// A number in plain decimal notation: no "NaN", "Infinity", hex or "_".
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;

function staticSelect<const V extends Json>(options: readonly Option<V>[]): z.ZodType<V> {
  const values = options.map((option) => option.value);
  const schema = z.custom<V>((raw) => values.some((value) => sameJson(value, raw)), {
    error: (issue) => `Select a valid choice. ${display(issue.input)} is not one of the available choices.`,
  });
  return mark(schema, { type: FieldType.SELECT, options });
}

/**
 * A select whose options the server answers (GetFieldOptions) from the current form: `source`
 * runs with the form's values. The value is a string unless `schema` says otherwise.
 */
function serverSelect<T extends z.ZodType = z.ZodString>(source: OptionsSource, schema?: T): T {
  return mark((schema ?? z.string()) as T, { type: FieldType.SELECT, source });
}

const select = Object.assign(staticSelect, { fromServer: serverSelect });

/**
 * Schemas for the Jet field types that zod has no type for. Plain zod types map by
 * themselves: z.string() is a CharField, z.number() a FloatField, z.number().int() an
 * IntegerField, z.boolean() a BooleanField, z.enum([...]) a SelectField, z.date() a
 * DateTimeField; anything else is a JSONField.
 */
export const f = {
  /** A TextField (multi-line text). */
  text: () => mark(z.string(), { type: FieldType.TEXT }),
  /** A DecimalField, received as its exact decimal text (`"12.50"`), never as a float. */
  decimal: () =>
    mark(z.string().regex(PLAIN_NUMBER, "Enter a number."), { type: FieldType.DECIMAL }),
  /** A DateField, as `YYYY-MM-DD`. */
  date: () => mark(z.string().regex(DATE, "Enter a valid date."), { type: FieldType.DATE }),
  /** A TimeField, as `HH:MM` or `HH:MM:SS`. */
  time: () => mark(z.string().regex(TIME, "Enter a valid time."), { type: FieldType.TIME }),
  /** A DateTimeField, received as a Date. */
  datetime: () => mark(z.date({ error: "Enter a valid date/time." }), { type: FieldType.DATE_TIME }),
  /** A JSONField: any JSON value, or what `schema` accepts. */
  json: <T extends z.ZodType = z.ZodType<Json>>(schema?: T): T =>
    mark((schema ?? z.json()) as T, { type: FieldType.JSON }),
  /** A SelectField with static options; the value is one of the options' values. */
  select,
  /** A ForeignKey: the id of a record of `relatedModel`, a number or a string as Jet sends it. */
  foreignKey: (relatedModel: string) =>
    mark(z.union([z.number(), z.string()]), { type: FieldType.FOREIGN_KEY, relatedModel }),
};

/** Everything a form input is, derived once from its schema. */
export interface Field {
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
  readonly defaultValue?: Json;
  readonly label: string;
  readonly description: string;
  readonly options: readonly Option[];
  readonly source?: OptionsSource;
  readonly relatedModel: string;
  /** Further Jet field params, passed to Jet Admin as is: `.meta({ jet: { ... } })`. */
  readonly extra: JsonObject;
  readonly schema: z.ZodType;
  // The value to give zod for a missing optional input: undefined, or null for a schema that
  // takes null but not undefined.
  readonly absent: undefined | null;
}

// The wrappers whose inner schema is the field.
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "catch", "nonoptional"]);

/** The Jet field of one entry of an input object's shape. */
export function fieldOf(name: string, schema: z.ZodType): Field {
  let inner: z.ZodType = schema;
  let meta = jet.get(inner);
  let defaultValue: unknown;
  while (!meta && WRAPPERS.has(inner.def.type)) {
    const def = inner.def as unknown as { innerType: z.ZodType; defaultValue?: unknown };
    if (inner.def.type === "default" && defaultValue === undefined) {
      defaultValue = def.defaultValue;
    }
    inner = def.innerType;
    meta = jet.get(inner);
  }
  const type = meta?.type ?? plainType(inner);
  const options = meta?.options ?? enumOptions(inner);
  const described = z.globalRegistry.get(schema) ?? z.globalRegistry.get(inner);
  const takesUndefined = schema.safeParse(undefined).success;
  const takesNull = schema.safeParse(null).success;
  return {
    name,
    type,
    required: !takesUndefined && !takesNull,
    ...(defaultValue === undefined ? {} : { defaultValue: toJson(defaultValue) }),
    label: typeof described?.title === "string" ? described.title : "",
    description: described?.description ?? "",
    options,
    ...(meta?.source ? { source: meta.source } : {}),
    relatedModel: meta?.relatedModel ?? "",
    extra: isObject(described?.["jet"]) ? (toJson(described["jet"]) as JsonObject) : {},
    schema,
    absent: takesUndefined ? undefined : null,
  };
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function plainType(schema: z.ZodType): FieldType {
  switch (schema.def.type) {
    case "string":
      return FieldType.CHAR;
    case "number":
      return (schema as z.ZodNumber).format?.includes("int") ? FieldType.INTEGER : FieldType.FLOAT;
    case "int":
      return FieldType.INTEGER;
    case "boolean":
      return FieldType.BOOLEAN;
    case "enum":
      return FieldType.SELECT;
    case "date":
      return FieldType.DATE_TIME;
    default:
      return FieldType.JSON;
  }
}

function enumOptions(schema: z.ZodType): readonly Option[] {
  if (schema.def.type !== "enum") {
    return [];
  }
  return (schema as z.ZodEnum).options.map((value) => ({ value, name: String(value) }));
}

/** Django's wording for a missing required input, which Jet Admin users know. */
export const REQUIRED = "This field is required.";

/** The result of checking a form: the typed values, or the messages per input. */
export type Checked =
  | { readonly ok: true; readonly values: Record<string, unknown> }
  | { readonly ok: false; readonly fields: Record<string, string[]>; readonly nonFieldErrors: string[] };

/**
 * Converts and validates every input, so the user sees all problems at once. Missing required
 * inputs get REQUIRED; present ones are converted from Jet's form encoding, then the whole
 * object is parsed by `schema` (so its refinements run too), whose issues are keyed by input
 * name (a nested path is named in the message; issues of the whole object are non-field errors).
 */
export function check(fields: readonly Field[], schema: z.ZodType, inputs: JsonObject): Checked {
  const errors: Record<string, string[]> = {};
  const nonFieldErrors: string[] = [];
  const given: Record<string, unknown> = {};
  for (const field of fields) {
    const raw = inputs[field.name];
    if (!missing(field, raw)) {
      given[field.name] = convert(field, raw!);
    } else if (field.required) {
      errors[field.name] = [REQUIRED];
    } else if (field.absent === null) {
      given[field.name] = null;
    }
  }
  const parsed = schema.safeParse(given, { error: message });
  if (parsed.success && !Object.keys(errors).length) {
    return { ok: true, values: parsed.data as Record<string, unknown> };
  }
  for (const issue of parsed.error?.issues ?? []) {
    const [name, ...path] = issue.path;
    if (name === undefined) {
      nonFieldErrors.push(issue.message);
    } else if (!errors[String(name)]?.includes(REQUIRED)) {
      (errors[String(name)] ??= []).push(path.length ? `${path.join(".")}: ${issue.message}` : issue.message);
    }
  }
  return { ok: false, fields: errors, nonFieldErrors };
}

// An absent or null input; "" too, except for an optional text input, where it is a value.
function missing(field: Field, raw: Json | undefined): boolean {
  if (raw === undefined || raw === null) {
    return true;
  }
  const text = field.type === FieldType.CHAR || field.type === FieldType.TEXT;
  return raw === "" && (!text || field.required);
}

// Jet's forms send numbers and booleans as text; a value that does not convert is passed on
// as it is, for its schema to refuse.
function convert(field: Field, raw: Json): unknown {
  switch (field.type) {
    case FieldType.CHAR:
    case FieldType.TEXT:
      // Numbers as their decimal form, like Django's CharField.
      return typeof raw === "number" ? String(raw) : raw;
    case FieldType.JSON:
      // A form's JSON editor may send the document as text.
      return typeof raw === "string" ? parsedOr(raw) : raw;
    case FieldType.BOOLEAN:
      return booleanOf(raw) ?? raw;
    case FieldType.INTEGER:
    case FieldType.FLOAT:
      return typeof raw === "string" && PLAIN_NUMBER.test(raw.trim()) ? Number(raw) : raw;
    case FieldType.DECIMAL:
      return typeof raw === "number" && Number.isFinite(raw) ? String(raw) : typeof raw === "string" ? raw.trim() : raw;
    case FieldType.DATE_TIME: {
      const date = typeof raw === "string" ? new Date(raw) : undefined;
      return date && !Number.isNaN(date.getTime()) ? date : raw;
    }
    case FieldType.SELECT: {
      // "1" picks the option 1: forms send numbers as strings.
      const number = field.options.find(
        (option) => typeof option.value === "number" && typeof raw === "string" && raw.trim() === String(option.value),
      );
      return number ? number.value : raw;
    }
    default:
      return raw;
  }
}

function parsedOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function booleanOf(raw: Json): boolean | undefined {
  if (typeof raw === "boolean") return raw;
  if (raw === 0 || raw === 1) return raw === 1;
  if (typeof raw === "string") {
    const word = raw.trim().toLowerCase();
    if (word === "true" || word === "1") return true;
    if (word === "false" || word === "0") return false;
  }
  return undefined;
}

// Messages for the issues of plain zod types, in the words of the other SDKs; undefined keeps
// zod's own message.
function message(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type") {
    switch (issue.expected) {
      case "boolean":
        return "Enter true or false.";
      case "number":
        return "Enter a number.";
      case "int":
        return "Enter a whole number.";
      case "string":
        return "Enter a valid text.";
      case "date":
        return "Enter a valid date/time.";
    }
  }
  if (issue.code === "invalid_value") {
    return `Select a valid choice. ${display(issue.input)} is not one of the available choices.`;
  }
  return undefined;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A JSON value for a human: strings as they are, anything else as JSON. */
export function display(raw: unknown): string {
  return typeof raw === "string" ? raw : (JSON.stringify(raw) ?? String(raw));
}

/** A value as JSON (Dates as ISO text), for defaults and results. */
export function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value ?? null)) as Json;
}
