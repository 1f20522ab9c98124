// What a handler answers: a result, a file, field errors, or a status error.
import { status as Code } from "@grpc/grpc-js";

import type { Json, JsonObject } from "./fields.js";

export { Code };

/** A successful run: Jet shows the message or the html. */
export class Result {
  /** The `result` value Jet receives; true unless set. */
  readonly value: Json;
  readonly message: string | undefined;
  readonly html: string | undefined;
  /** Further keys merged into the JSON object Jet receives. */
  readonly extra: JsonObject;

  constructor(init: { value?: Json; message?: string; html?: string; extra?: JsonObject } = {}) {
    this.value = init.value ?? true;
    this.message = init.message;
    this.html = init.html;
    this.extra = init.extra ?? {};
  }
}

/** A result; `result({ message: "Done" })`. A handler may also return a bare JSON value. */
export function result(init: ConstructorParameters<typeof Result>[0] = {}): Result {
  return new Result(init);
}

/** A download that the browser saves. */
export class FileDownload {
  readonly filename: string;
  readonly content: Uint8Array;
  readonly contentType: string;

  constructor(filename: string, content: string | Uint8Array, contentType = "application/octet-stream") {
    this.filename = filename;
    this.content = typeof content === "string" ? new TextEncoder().encode(content) : content;
    this.contentType = contentType;
  }
}

/** A file download; text content is sent as UTF-8. */
export function file(filename: string, content: string | Uint8Array, contentType?: string): FileDownload {
  return new FileDownload(filename, content, contentType);
}

/**
 * Refuses the inputs: Jet shows the messages on the form. Throw it (or return it) from a
 * handler; `new FieldErrors({ amount: "must be positive" })`, `FieldErrors.form("Select a user")`.
 */
export class FieldErrors extends Error {
  readonly fields: Readonly<Record<string, readonly string[]>>;
  readonly nonFieldErrors: readonly string[];

  constructor(fields: Record<string, string | readonly string[]> = {}, nonFieldErrors: readonly string[] = []) {
    const entries = Object.entries(fields).map(([name, messages]) => [name, typeof messages === "string" ? [messages] : messages] as const);
    super(
      [...nonFieldErrors, ...entries.map(([name, messages]) => `${name}: ${messages.join(" ")}`)].join("; ") ||
        "invalid inputs",
    );
    this.name = "FieldErrors";
    this.fields = Object.fromEntries(entries);
    this.nonFieldErrors = nonFieldErrors;
  }

  /** Errors not tied to one input (Jet's `non_field_errors`). */
  static form(...messages: string[]): FieldErrors {
    return new FieldErrors({}, messages);
  }
}

/**
 * Ends the call with a gRPC status, which the bridge maps to HTTP (NOT_FOUND is 404,
 * PERMISSION_DENIED 403, UNAVAILABLE 503, ...): `throw new ActionError(Code.NOT_FOUND, "no such order")`.
 */
export class ActionError extends Error {
  readonly code: Code;

  constructor(code: Code, message: string) {
    super(message);
    this.name = "ActionError";
    this.code = code;
  }
}

/** What a handler may answer; undefined means a result of true. */
export type Outcome = Result | FileDownload | FieldErrors | Json | undefined | void;
