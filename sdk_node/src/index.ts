// jetactions: Jet Admin action servers in TypeScript.
export { action, ActionBuilder, type ActionDefinition, type ActionOptions, type Handler, type Placement } from "./action.js";
export type { ActionContext, AuthMethodName, CallContext, Caller, FieldContext, Id } from "./context.js";
export { z } from "zod";
export { f, FieldType, REQUIRED, type Json, type JsonObject, type Option, type OptionsSource } from "./fields.js";
export type { Level, LogFormat } from "./log.js";
export { ActionError, Code, FieldErrors, file, FileDownload, result, Result, type Outcome } from "./results.js";
export { ActionServer, actionServer, DRAIN_DELAY_MS, SERVICE_NAME, type ActionServerOptions, type RunningServer } from "./server.js";
export { DEFAULT_ADDRESS, DEFAULT_GRACE_MS, DEFAULT_MAX_MESSAGE_BYTES, type ServeOptions, type TlsFiles } from "./settings.js";
