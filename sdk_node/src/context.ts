// What a handler knows about its call.
import type { JsonObject as JsonObjectMessage } from "@bufbuild/protobuf";

import { AuthMethod, type Caller as CallerMessage } from "./gen/jetactions/v1/actions_pb.js";
import type { JsonObject } from "./fields.js";

/** A record id, keeping the JSON type Jet sent it with. */
export type Id = string | number;

/** How the bridge authenticated the Jet Admin user. */
export type AuthMethodName = "unspecified" | "jwt" | "user_token" | "project_token" | "bearer";

/** Who asked the bridge, as far as the bridge knows. */
export interface Caller {
  readonly authMethod: AuthMethodName;
  readonly userId: string;
  readonly userEmail: string;
  readonly project: string;
  readonly environment: string;
  /** The raw credential; empty unless the bridge forwards it. */
  readonly token: string;
  /** Every claim of a verified JWT. */
  readonly claims: JsonObject;
}

/** What every call has. */
export interface CallContext {
  /** The collection; empty for common actions. */
  readonly model: string;
  /** The message's whole `params` object as Jet sent it. */
  readonly messageParams: JsonObject;
  readonly caller: Caller;
  /** The `x-request-id` of the call ("" when none came); put it on your log lines. */
  readonly requestId: string;
  /** When the caller stops waiting; undefined when it set no deadline. */
  readonly deadline: Date | undefined;
  /** Aborted when the call is cancelled or its deadline passes: pass it to fetch() and friends. */
  readonly signal: AbortSignal;
}

/** The context of an action run. */
export interface ActionContext extends CallContext {
  /** The action's name. */
  readonly action: string;
  /** The selected records' ids. */
  readonly ids: readonly Id[];
  /** The first id, for actions on one record. */
  readonly id: Id | undefined;
  /** True when the action targets every record of the model except `ids`. */
  readonly inverseIds: boolean;
  /** The form inputs as Jet sent them, before conversion. */
  readonly inputs: JsonObject;
}

/** The context of a field-options call. */
export interface FieldContext extends CallContext {
  readonly field: string;
  /** The values currently typed into the form, unvalidated. */
  readonly form: JsonObject;
}

const AUTH_METHODS: Record<AuthMethod, AuthMethodName> = {
  [AuthMethod.UNSPECIFIED]: "unspecified",
  [AuthMethod.JWT]: "jwt",
  [AuthMethod.USER_TOKEN]: "user_token",
  [AuthMethod.PROJECT_TOKEN]: "project_token",
  [AuthMethod.BEARER]: "bearer",
};

export function callerOf(message: CallerMessage | undefined): Caller {
  return {
    authMethod: AUTH_METHODS[message?.authMethod ?? AuthMethod.UNSPECIFIED] ?? "unspecified",
    userId: message?.userId ?? "",
    userEmail: message?.userEmail ?? "",
    project: message?.project ?? "",
    environment: message?.environment ?? "",
    token: message?.token ?? "",
    claims: message?.claims ?? {},
  };
}

/** A Struct field as a plain object (protobuf-es gives Structs as JsonObject already). */
export function objectOf(struct: JsonObjectMessage | undefined): JsonObject {
  return (struct ?? {}) as JsonObject;
}
