// Calls actions in-process, through the same service implementation the gRPC server runs:
// validation, handlers, outcomes, deadlines and status errors as the bridge would see them.
//
//   const shop = tester(server);
//   const outcome = await shop.execute("mail_users", { model: "users", ids: [1], inputs: { subject: "Hi" } });
import { create, fromJson, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";

import type { Id } from "./context.js";
import type { Json, JsonObject, Option } from "./fields.js";
import {
  ExecuteActionRequestSchema,
  GetFieldOptionsRequestSchema,
  type ListActionsResponse,
  type CallerSchema,
} from "./gen/jetactions/v1/actions_pb.js";
import { silent, type Logger } from "./log.js";
import type { ActionServer } from "./server.js";
import { ActionService } from "./service.js";

export { ActionError, Code } from "./results.js";

/** What a test call sends; everything is optional. */
export interface CallOptions {
  readonly model?: string;
  readonly ids?: readonly Id[];
  readonly inverseIds?: boolean;
  readonly inputs?: JsonObject;
  readonly messageParams?: JsonObject;
  readonly caller?: MessageInitShape<typeof CallerSchema>;
  /** The x-request-id the handler sees. */
  readonly requestId?: string;
  /** The caller's deadline, in milliseconds from now. */
  readonly timeoutMs?: number;
  /** Aborts the call, as a client that goes away. */
  readonly signal?: AbortSignal;
}

/** One outcome of ExecuteAction, as plain data. */
export type TestOutcome =
  | { readonly kind: "result"; readonly value: Json; readonly message?: string; readonly html?: string; readonly extra: JsonObject }
  | { readonly kind: "errors"; readonly fields: Record<string, string[]>; readonly nonFieldErrors: string[] }
  | { readonly kind: "file"; readonly filename: string; readonly contentType: string; readonly content: Uint8Array; readonly text: string };

export interface Tester {
  /** The ListActions answer, as the bridge gets it. */
  list(): ListActionsResponse;
  /** Runs an action; a status error rejects with ActionError (its `code` is the gRPC code). */
  execute(action: string, options?: CallOptions): Promise<TestOutcome>;
  /** Asks a select's options from the server with the form's current values. */
  fieldOptions(model: string, field: string, form?: JsonObject, options?: CallOptions): Promise<Option[]>;
}

/** A tester of `server`'s actions; `log` receives the lines the server would log (none by default). */
export function tester(server: ActionServer, log: Logger = silent): Tester {
  const service = new ActionService(server.name, server.actions, log);
  const call = (options: CallOptions) => ({
    requestId: options.requestId ?? "",
    deadline: options.timeoutMs === undefined ? undefined : new Date(Date.now() + options.timeoutMs),
    signal: options.signal ?? new AbortController().signal,
  });
  return {
    list: () => service.listActions(),
    async execute(action, options = {}) {
      const request = create(ExecuteActionRequestSchema, {
        action,
        model: options.model ?? "",
        ids: (options.ids ?? []).map((id) => fromJson(ValueSchema, id)),
        inverseIds: options.inverseIds ?? false,
        inputs: options.inputs ?? {},
        messageParams: options.messageParams ?? {},
        ...(options.caller ? { caller: options.caller } : {}),
      });
      const { outcome } = await service.executeAction(request, call(options));
      switch (outcome.case) {
        case "result": {
          const { value, message, html, extra } = outcome.value;
          return {
            kind: "result",
            value: value ? (toJson(ValueSchema, value) as Json) : true,
            ...(message === undefined ? {} : { message }),
            ...(html === undefined ? {} : { html }),
            extra: (extra ?? {}) as JsonObject,
          };
        }
        case "errors":
          return {
            kind: "errors",
            fields: Object.fromEntries(Object.entries(outcome.value.fields).map(([name, list]) => [name, list.messages])),
            nonFieldErrors: outcome.value.nonFieldErrors,
          };
        case "file": {
          const { filename, contentType, content } = outcome.value;
          return { kind: "file", filename, contentType, content, text: new TextDecoder().decode(content) };
        }
        default:
          throw new Error(`action ${action} answered no outcome`);
      }
    },
    async fieldOptions(model, field, form = {}, options = {}) {
      const request = create(GetFieldOptionsRequestSchema, {
        model,
        field,
        form,
        messageParams: options.messageParams ?? {},
        ...(options.caller ? { caller: options.caller } : {}),
      });
      const response = await service.getFieldOptions(request, call(options));
      return response.options.map((option) => ({
        value: (option.value ? toJson(ValueSchema, option.value) : null) as Json,
        name: option.name,
        ...(option.color ? { color: option.color } : {}),
      }));
    },
  };
}
