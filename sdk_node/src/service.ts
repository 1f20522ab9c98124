// jetactions.v1.ActionService over the declared actions, apart from any transport: the gRPC
// server and the testing helper both call it.
import { create, fromJson, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { DurationSchema, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";

import type { ActionDefinition } from "./action.js";
import { callerOf, objectOf, type ActionContext, type CallContext, type Id } from "./context.js";
import {
  ActionSchema,
  ExecuteActionResponseSchema,
  GetFieldOptionsResponseSchema,
  ListActionsResponseSchema,
  type ExecuteActionRequest,
  type ExecuteActionResponse,
  type GetFieldOptionsRequest,
  type GetFieldOptionsResponse,
  type ListActionsResponse,
} from "./gen/jetactions/v1/actions_pb.js";
import { check, type Field, type Json, type Option, type OptionsSource } from "./fields.js";
import type { Logger } from "./log.js";
import { ActionError, Code, FieldErrors, FileDownload, Result, type Outcome } from "./results.js";

/** What the transport knows about a call. */
export interface Call {
  /** The `x-request-id` metadata, or "". */
  readonly requestId: string;
  /** The caller's deadline, if any. */
  readonly deadline: Date | undefined;
  /** Aborted when the caller goes away. */
  readonly signal: AbortSignal;
}

type Response = MessageInitShape<typeof ExecuteActionResponseSchema>;

export class ActionService {
  readonly #name: string;
  readonly #actions: ReadonlyMap<string, ActionDefinition>;
  readonly #sources: ReadonlyMap<string, OptionsSource>;
  readonly #listing: ListActionsResponse;
  readonly #log: Logger;

  constructor(name: string, actions: Readonly<Record<string, ActionDefinition>>, log: Logger) {
    this.#name = name;
    this.#actions = new Map(Object.entries(actions));
    this.#sources = sourcesOf(this.#actions);
    this.#listing = listing(name, this.#actions, this.#sources);
    this.#log = log;
  }

  get name(): string {
    return this.#name;
  }

  /** The label of a call's action in metrics: a declared name or source, else "" (bounded). */
  metricsLabel(request: { action?: string; model?: string; field?: string }): string {
    if (request.action !== undefined) {
      return this.#actions.has(request.action) ? request.action : "";
    }
    if (request.field !== undefined) {
      return this.#sources.has(sourceKey(request.model ?? "", request.field)) ? `${request.model}.${request.field}` : "";
    }
    return "";
  }

  /** Built once: every call answers the same message. */
  listActions(): ListActionsResponse {
    return this.#listing;
  }

  /** Runs one action; throws ActionError for a status. */
  async executeAction(request: ExecuteActionRequest, call: Call): Promise<ExecuteActionResponse> {
    const definition = this.#actions.get(request.action);
    if (!definition) {
      throw new ActionError(Code.NOT_FOUND, `unknown action "${request.action}"`);
    }
    const ids = request.ids.map(idOf);
    const inputs = objectOf(request.inputs);
    const checked = check(definition.fields, definition.schema, inputs);
    if (!checked.ok) {
      return create(ExecuteActionResponseSchema, errors(new FieldErrors(checked.fields, checked.nonFieldErrors)));
    }
    const timeoutMs = definition.options.timeoutMs;
    return create(
      ExecuteActionResponseSchema,
      await this.#bounded(call, timeoutMs, `action ${request.action}`, async (base) => {
        const ctx: ActionContext = {
          ...base,
          action: request.action,
          model: request.model,
          ids,
          id: ids[0],
          inverseIds: request.inverseIds,
          inputs,
          messageParams: objectOf(request.messageParams),
          caller: callerOf(request.caller),
        };
        try {
          return response(await definition.run(ctx, checked.values));
        } catch (error) {
          if (error instanceof FieldErrors) {
            return errors(error);
          }
          throw error;
        }
      }),
    );
  }

  /** The options of one select field whose options come from the server. */
  async getFieldOptions(request: GetFieldOptionsRequest, call: Call): Promise<GetFieldOptionsResponse> {
    const source = this.#sources.get(sourceKey(request.model, request.field));
    if (!source) {
      throw new ActionError(
        Code.NOT_FOUND,
        `no field options for model "${request.model}", field "${request.field}"`,
      );
    }
    const options = await this.#bounded(call, 0, `field options ${request.model}.${request.field}`, (base) =>
      source({
        ...base,
        model: request.model,
        field: request.field,
        form: objectOf(request.form),
        messageParams: objectOf(request.messageParams),
        caller: callerOf(request.caller),
      }),
    );
    return create(GetFieldOptionsResponseSchema, { options: options.map(optionMessage) });
  }

  // Runs `body` until the earlier of the call's deadline and `timeoutMs`: its signal aborts
  // then, and the call ends DEADLINE_EXCEEDED even if `body` ignores the signal. A deadline
  // already passed refuses the call before `body` starts. Errors other than ActionError are
  // logged and become INTERNAL, without their message (it may hold secrets).
  async #bounded<T>(
    call: Call,
    timeoutMs: number,
    what: string,
    body: (base: Pick<CallContext, "requestId" | "deadline" | "signal">) => T | Promise<T>,
  ): Promise<T> {
    const limits = [call.deadline?.getTime(), timeoutMs > 0 ? Date.now() + timeoutMs : undefined];
    const end = Math.min(...limits.map((limit) => limit ?? Infinity));
    const deadline = Number.isFinite(end) ? new Date(end) : undefined;
    const left = end - Date.now();
    if (left <= 0 || call.signal.aborted) {
      throw new ActionError(Code.DEADLINE_EXCEEDED, `deadline exceeded before ${what} started`);
    }
    const controller = new AbortController();
    const signal = AbortSignal.any([call.signal, controller.signal]);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      const fail = () => reject(new ActionError(Code.DEADLINE_EXCEEDED, `deadline exceeded during ${what}`));
      if (Number.isFinite(left)) {
        timer = setTimeout(() => {
          controller.abort(new ActionError(Code.DEADLINE_EXCEEDED, "deadline exceeded"));
          fail();
        }, left);
      }
      call.signal.addEventListener("abort", () => reject(new ActionError(Code.CANCELLED, "the call was cancelled")), { once: true });
    });
    expired.catch(() => {}); // raced below; never an unhandled rejection
    try {
      return await Promise.race([Promise.resolve().then(() => body({ requestId: call.requestId, deadline, signal })), expired]);
    } catch (error) {
      if (error instanceof ActionError) {
        throw error;
      }
      this.#log.log("error", `${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, {
        request_id: call.requestId || undefined,
      });
      throw new ActionError(Code.INTERNAL, `${what} failed (request id ${call.requestId || "none"})`);
    } finally {
      clearTimeout(timer);
    }
  }
}

// An id keeps its JSON type; anything but a number or a string is the caller's mistake.
function idOf(value: Value): Id {
  const id = value.kind.case === undefined ? undefined : toJson(ValueSchema, value);
  if (typeof id !== "number" && typeof id !== "string") {
    throw new ActionError(Code.INVALID_ARGUMENT, `ids must be numbers or strings, not ${JSON.stringify(id)}`);
  }
  return id;
}

function jsonValue(json: Json): Value {
  return fromJson(ValueSchema, json);
}

function optionMessage(option: Option) {
  return { value: jsonValue(option.value), name: option.name, color: option.color ?? "" };
}

function response(outcome: Outcome): Response {
  if (outcome instanceof FieldErrors) {
    return errors(outcome);
  }
  if (outcome instanceof FileDownload) {
    const { filename, contentType, content } = outcome;
    return { outcome: { case: "file", value: { filename, contentType, content } } };
  }
  const result = outcome instanceof Result ? outcome : new Result({ value: outcome === undefined ? true : outcome });
  return {
    outcome: {
      case: "result",
      value: {
        value: jsonValue(result.value),
        ...(result.message === undefined ? {} : { message: result.message }),
        ...(result.html === undefined ? {} : { html: result.html }),
        extra: result.extra,
      },
    },
  };
}

function errors(error: FieldErrors): Response {
  const fields = Object.fromEntries(Object.entries(error.fields).map(([name, messages]) => [name, { messages: [...messages] }]));
  return { outcome: { case: "errors", value: { nonFieldErrors: [...error.nonFieldErrors], fields } } };
}

function sourceKey(model: string, field: string): string {
  return JSON.stringify([model, field]);
}

// Every (model, field) of a select with options from the server, once: for each model of its
// action ("" for a common action). Two different sources for one pair are a declaration bug.
function sourcesOf(actions: ReadonlyMap<string, ActionDefinition>): Map<string, OptionsSource> {
  const sources = new Map<string, OptionsSource>();
  for (const [name, definition] of actions) {
    const placement = definition.options.placement;
    const models = placement.kind === "model" ? placement.models : [""];
    for (const field of definition.fields) {
      for (const model of field.source ? models : []) {
        const key = sourceKey(model, field.name);
        const known = sources.get(key);
        if (known && known !== field.source) {
          throw new TypeError(`action ${name}: another action has other options for (${model || '""'}, ${field.name})`);
        }
        sources.set(key, field.source!);
      }
    }
  }
  return sources;
}

function listing(
  name: string,
  actions: ReadonlyMap<string, ActionDefinition>,
  sources: ReadonlyMap<string, OptionsSource>,
): ListActionsResponse {
  return create(ListActionsResponseSchema, {
    serverName: name,
    actions: [...actions].map(([actionName, { options, fields }]) =>
      create(ActionSchema, {
        name: actionName,
        label: options.label,
        icon: options.icon,
        description: options.description,
        kind:
          options.placement.kind === "model"
            ? {
                case: "modelAction",
                value: {
                  models: [...options.placement.models],
                  forInstance: options.placement.forInstance,
                  bulk: options.placement.bulk,
                },
              }
            : { case: "commonAction", value: {} },
        params: fields.map(param),
        idempotent: options.idempotent,
        ...(options.timeoutMs > 0 ? { timeout: duration(options.timeoutMs) } : {}),
      }),
    ),
    fieldOptions: [...sources.keys()].map((key) => {
      const [model, field] = JSON.parse(key) as [string, string];
      return { model, field };
    }),
  });
}

function param(field: Field) {
  return {
    name: field.name,
    field: field.type,
    required: field.required,
    label: field.label,
    description: field.description,
    ...(field.defaultValue === undefined ? {} : { defaultValue: jsonValue(field.defaultValue) }),
    options: field.options.map(optionMessage),
    optionsFromServer: field.source !== undefined,
    relatedModel: field.relatedModel,
    ...(Object.keys(field.extra).length ? { extra: field.extra } : {}),
  };
}

function duration(milliseconds: number) {
  return create(DurationSchema, {
    seconds: BigInt(Math.floor(milliseconds / 1000)),
    nanos: Math.round((milliseconds % 1000) * 1e6),
  });
}
