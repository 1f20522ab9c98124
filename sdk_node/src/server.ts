// The gRPC server: ActionService on @grpc/grpc-js with the messages buf generates, plus
// grpc.health.v1 (grpc-health-check), server reflection (@grpc/reflection), the shared
// secret, TLS, message limits and the graceful drain.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

import { fromBinary, toBinary, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProto } from "grpc-health-check";

import type { ActionDefinition } from "./action.js";
import { ActionService as ActionServiceDesc, file_jetactions_v1_actions } from "./gen/jetactions/v1/actions_pb.js";
import { createLogger, type Logger } from "./log.js";
import { callMetrics, serveMetrics, type CallMetrics } from "./metrics.js";
import { ActionError, Code } from "./results.js";
import { ActionService, type Call } from "./service.js";
import { settingsOf, type ServeOptions, type Settings } from "./settings.js";
import { tracingFromEnv, type CallTracing } from "./tracing.js";

/** The service name of ActionService, for health checks. */
export const SERVICE_NAME = ActionServiceDesc.typeName;

/** How long a draining server keeps accepting calls after it reports NOT_SERVING. */
export const DRAIN_DELAY_MS = 500;

// Letters, digits, `_`, `.`, `-`, as ListActionsResponse.server_name allows.
const SERVER_NAME = /^[A-Za-z0-9_.-]+$/;

export interface ActionServerOptions {
  /** The server's own name (ListActionsResponse.server_name, log lines). */
  readonly name: string;
  /** The actions by name, in the order Jet shows them. */
  readonly actions: Readonly<Record<string, ActionDefinition>>;
}

/** A started server. */
export interface RunningServer {
  /** host:port with the bound port. */
  readonly address: string;
  readonly port: number;
  /** The bound port of the metrics endpoint, or undefined when it is off. */
  readonly metricsPort: number | undefined;
  /**
   * Drains: health NOT_SERVING, new calls still accepted for DRAIN_DELAY_MS (clients that
   * watch health move away), then refused; calls in flight get `graceMs` to finish before
   * they are cancelled. Resolves once stopped; calling it again with a shorter grace stops sooner.
   */
  stop(graceMs?: number): Promise<void>;
  /** Resolves once the server has stopped. */
  readonly stopped: Promise<void>;
}

/** Declared actions, to serve (serve, run) or to test (jetactions/testing). */
export class ActionServer {
  readonly name: string;
  readonly actions: Readonly<Record<string, ActionDefinition>>;

  constructor(options: ActionServerOptions) {
    if (!SERVER_NAME.test(options.name)) {
      throw new TypeError(`server name "${options.name}": use letters, digits, "_", "." and "-" only`);
    }
    this.name = options.name;
    this.actions = options.actions;
    new ActionService(this.name, this.actions, createLogger({ name: this.name })); // checks the declarations now
  }

  /** Starts serving and returns at once; options fall back to the JETACTIONS_* environment. */
  async serve(options: ServeOptions = {}): Promise<RunningServer> {
    const settings = settingsOf(options);
    const log = createLogger({
      name: this.name,
      format: settings.logFormat,
      level: settings.logLevel,
      ...(settings.logWrite ? { write: settings.logWrite } : {}),
    });
    const tracing = await tracingFromEnv(this.name);
    return start(new ActionService(this.name, this.actions, log), settings, log, tracing);
  }

  /**
   * Serves until SIGTERM or SIGINT, then drains (see RunningServer.stop) and exits; a second
   * signal stops at once. A bad setting or a busy address exits 1 with the reason.
   */
  async run(options: ServeOptions = {}): Promise<void> {
    let running: RunningServer;
    try {
      running = await this.serve(options);
    } catch (error) {
      process.stderr.write(`${this.name}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    }
    let signals = 0;
    const onSignal = () => void running.stop(++signals > 1 ? 0 : undefined);
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    await running.stopped;
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    process.exit(0);
  }
}

/** Declares a server: `actionServer({ name: "shop", actions: { mail_users: ... } })`. */
export function actionServer(options: ActionServerOptions): ActionServer {
  return new ActionServer(options);
}

async function start(service: ActionService, settings: Settings, log: Logger, tracing: CallTracing | undefined): Promise<RunningServer> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": settings.maxMessageBytes,
    "grpc.max_send_message_length": settings.maxMessageBytes,
    // Keepalive pings from clients (the bridge pings every 30 s, also when idle; 10 s is
    // fine too) need nothing: Node's HTTP/2 answers pings, and grpc-js counts no ping strikes.
  });
  const inFlight = new InFlight();
  const metrics = settings.metricsPort === null ? undefined : callMetrics();
  server.addService(definitionOf(ActionServiceDesc), handlers(service, settings.secret, log, inFlight, metrics, tracing));
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  new ReflectionService({ ...descriptorsOf(file_jetactions_v1_actions), ...loadSync(healthProto) }).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(settings.address, credentialsOf(settings), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const host = settings.address.slice(0, settings.address.lastIndexOf(":"));
  const address = `${host}:${port}`;
  let endpoint: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    endpoint = settings.metricsPort === null ? undefined : await serveMetrics(host, settings.metricsPort);
  } catch (error) {
    server.forceShutdown();
    throw new Error(`metrics port ${settings.metricsPort}: ${error instanceof Error ? error.message : String(error)}`);
  }
  log.log("info", `serving on ${address}`, {
    metrics: endpoint ? `${host}:${endpoint.port}` : undefined,
    actions: service.listActions().actions.length,
    tls: settings.tls ? (settings.tls.clientCaFile ? "mutual" : "server") : "off",
    secret: settings.secret ? "required" : "off",
  });

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let draining: Promise<void> | undefined;
  let hardStop: NodeJS.Timeout | undefined;
  let finished = false;
  const finish = () => {
    if (finished) {
      return;
    }
    finished = true;
    clearTimeout(hardStop);
    server.forceShutdown(); // ends what is left: health Watch streams, calls past the grace
    const flushed = tracing?.flush().catch((error: unknown) => log.log("warn", `could not export the last spans: ${String(error)}`));
    void Promise.all([endpoint?.close(), flushed]).then(() => {
      log.log("info", "stopped", { address });
      resolveStopped();
    });
  };
  return {
    address,
    port,
    metricsPort: endpoint?.port,
    stopped,
    stop(graceMs = settings.graceMs) {
      // A second stop only shortens the grace.
      clearTimeout(hardStop);
      hardStop = setTimeout(finish, graceMs + (draining ? 0 : Math.min(DRAIN_DELAY_MS, graceMs / 2)));
      if (draining) {
        return stopped;
      }
      log.log("info", `draining: NOT_SERVING, calls in flight get ${graceMs / 1000} s`, { in_flight: inFlight.count });
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      draining = new Promise<void>((resolve) => setTimeout(resolve, Math.min(DRAIN_DELAY_MS, graceMs / 2))).then(() => {
        // No new calls (GOAWAY); the calls in flight run on. Health Watch streams never end by
        // themselves, so the server stops when the last action call has.
        server.tryShutdown(() => {});
        return inFlight.idle().then(finish);
      });
      return stopped;
    },
  };
}

/** Counts ActionService calls that have not answered yet. */
class InFlight {
  count = 0;
  #waiters: (() => void)[] = [];

  async track<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await work();
    } finally {
      if (--this.count === 0) {
        this.#waiters.splice(0).forEach((wake) => wake());
      }
    }
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

type Method = "ListActions" | "ExecuteAction" | "GetFieldOptions";

// The grpc-js handlers of ActionService: the secret, the call's facts, status errors.
function handlers(
  service: ActionService,
  secret: string,
  log: Logger,
  inFlight: InFlight,
  metrics: CallMetrics | undefined,
  tracing: CallTracing | undefined,
): grpc.UntypedServiceImplementation {
  const expected = secret ? digest(secret) : undefined;
  const unary =
    (method: Method, run: (request: never, call: Call) => unknown): grpc.handleUnaryCall<unknown, unknown> =>
    (call, callback) => {
      const requestId = first(call.metadata, "x-request-id");
      const started = performance.now();
      const label = service.metricsLabel(call.request as object);
      metrics?.active.inc({ rpc_method: method });
      const traced = tracing?.start(`${SERVICE_NAME}/${method}`, call.metadata);
      const observe = (outcome: string, code: number) => {
        if (traced) {
          tracing?.end(traced.span, spanAttributes(method, call.request, requestId, outcome), outcome, code);
        }
        metrics?.active.dec({ rpc_method: method });
        metrics?.calls.inc({ rpc_method: method, action: label, outcome });
        metrics?.duration.observe({ rpc_method: method, action: label, outcome }, (performance.now() - started) / 1000);
      };
      const controller = new AbortController();
      call.on("cancelled", () => controller.abort());
      const deadline = call.getDeadline();
      const facts: Call = {
        requestId,
        deadline: deadline instanceof Date ? deadline : Number.isFinite(deadline) ? new Date(deadline) : undefined,
        signal: controller.signal,
      };
      const work = () =>
        inFlight.track(async () => {
          if (expected && !timingSafeEqual(digest(first(call.metadata, "x-jetbridge-secret")), expected)) {
            throw new ActionError(Code.UNAUTHENTICATED, "missing or wrong x-jetbridge-secret");
          }
          return run(call.request as never, facts);
        });
      void (traced && tracing ? tracing.within(traced.context, work) : work()).then(
        (response) => {
          log.log("debug", `${method} ok`, { ...what(call.request), ms: elapsed(started), request_id: requestId || undefined });
          observe(outcomeOf(response), Code.OK);
          callback(null, response);
        },
        (error: unknown) => {
          const status = error instanceof ActionError ? error : new ActionError(Code.INTERNAL, "internal error");
          log.log("debug", `${method} ${Code[status.code]}: ${status.message}`, {
            ...what(call.request),
            ms: elapsed(started),
            request_id: requestId || undefined,
          });
          observe(Code[status.code] ?? "UNKNOWN", status.code);
          callback({ code: status.code, details: status.message });
        },
      );
    };
  return {
    listActions: unary("ListActions", () => service.listActions()),
    executeAction: unary("ExecuteAction", (request, call) => service.executeAction(request, call)),
    getFieldOptions: unary("GetFieldOptions", (request, call) => service.getFieldOptions(request, call)),
  };
}

// An ExecuteAction's outcome ("result", "errors", "file"); "OK" for the other methods.
function outcomeOf(response: unknown): string {
  const outcome = (response as { outcome?: { case?: string } }).outcome;
  return outcome?.case ?? "OK";
}

// A call's span attributes, named as the Python SDK names them.
function spanAttributes(method: Method, request: unknown, requestId: string, outcome: string): Record<string, string | number> {
  const attributes: Record<string, string | number> = {
    "rpc.system": "grpc",
    "rpc.service": SERVICE_NAME,
    "rpc.method": method,
    "jetactions.outcome": outcome,
  };
  if (requestId) {
    attributes["jetactions.request_id"] = requestId;
  }
  const { action, model, field, ids } = (request ?? {}) as { action?: string; model?: string; field?: string; ids?: unknown[] };
  if (method === "ExecuteAction") {
    Object.assign(attributes, { "jetactions.action": action ?? "", "jetactions.model": model ?? "", "jetactions.ids": ids?.length ?? 0 });
  } else if (method === "GetFieldOptions") {
    Object.assign(attributes, { "jetactions.model": model ?? "", "jetactions.field": field ?? "" });
  }
  return attributes;
}

// What a call is about, for its log line.
function what(request: unknown): Record<string, string> {
  const { action, model, field } = (request ?? {}) as { action?: string; model?: string; field?: string };
  return Object.fromEntries(Object.entries({ action, model, field }).filter(([, value]) => value)) as Record<string, string>;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function first(metadata: grpc.Metadata, key: string): string {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : (value?.toString() ?? "");
}

// Equal-length digests, so that the comparison takes the same time whatever the length.
function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function credentialsOf(settings: Settings): grpc.ServerCredentials {
  if (!settings.tls) {
    return grpc.ServerCredentials.createInsecure();
  }
  const { certFile, keyFile, clientCaFile } = settings.tls;
  return grpc.ServerCredentials.createSsl(
    clientCaFile ? readFileSync(clientCaFile) : null,
    [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }],
    clientCaFile !== undefined,
  );
}

// A grpc-js service definition from buf's descriptors: the generated messages, in binary.
export function definitionOf(service: DescService): grpc.ServiceDefinition {
  const coder = (schema: DescMessage) => ({
    serialize: (message: unknown) => Buffer.from(toBinary(schema, message as never)),
    deserialize: (bytes: Buffer) => fromBinary(schema, bytes),
  });
  return Object.fromEntries(
    service.methods.map((method) => {
      const request = coder(method.input);
      const response = coder(method.output);
      return [
        method.localName,
        {
          path: `/${service.typeName}/${method.name}`,
          requestStream: false,
          responseStream: false,
          requestSerialize: request.serialize,
          requestDeserialize: request.deserialize,
          responseSerialize: response.serialize,
          responseDeserialize: response.deserialize,
        },
      ];
    }),
  );
}

// The file and the files it imports as serialized FileDescriptorProtos, in the shape of a
// proto-loader package definition, which is what @grpc/reflection reads.
function descriptorsOf(file: DescFile): PackageDefinition {
  const files = [file, ...file.dependencies];
  const fileDescriptorProtos = files.map((each) => Buffer.from(toBinary(FileDescriptorProtoSchema, each.proto)));
  return { [SERVICE_NAME]: { format: "Protocol Buffer 3 DescriptorProto", type: {}, fileDescriptorProtos } };
}
