// OpenTelemetry traces of ActionService calls: off unless the standard OTEL_* variables ask for
// them, and then each call continues the caller's W3C traceparent / tracestate with a server
// span, exported over OTLP/gRPC as OTEL_EXPORTER_OTLP_* say. The OpenTelemetry packages are
// optional peer dependencies, loaded only when traces are on.
import type * as grpc from "@grpc/grpc-js";
import type { Attributes, Context, Span } from "@opentelemetry/api";

type Env = Readonly<Record<string, string | undefined>>;

// The versions this SDK is built and tested with (package.json's devDependencies).
const PACKAGES =
  "@opentelemetry/api@1.9.1 @opentelemetry/core@2.12.1 @opentelemetry/resources@2.12.1 @opentelemetry/sdk-trace-node@2.12.1 @opentelemetry/exporter-trace-otlp-grpc@0.223.1";
const ENDPOINTS = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];
const PROTOCOLS = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"];
// Server-side codes that are the server's fault (OpenTelemetry's RPC conventions).
const SERVER_ERRORS = new Set(["UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"]);

/** Whether the environment asks for traces: an OTLP endpoint or OTEL_TRACES_EXPORTER is set,
 * and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none (the Python SDK's rules). */
export function tracesConfigured(env: Env): boolean {
  if ((env["OTEL_SDK_DISABLED"] ?? "").trim().toLowerCase() === "true") {
    return false;
  }
  const exporter = (env["OTEL_TRACES_EXPORTER"] ?? "").trim().toLowerCase();
  if (exporter) {
    return exporter !== "none";
  }
  return ENDPOINTS.some((name) => env[name]);
}

/** How calls open and close their spans. */
export interface CallTracing {
  /** Opens the server span of a call, a child of the caller's context in its metadata. */
  start(name: string, metadata: grpc.Metadata): { span: Span; context: Context };
  /** Runs work with the call's span current, so that handlers' own spans are its children. */
  within<T>(context: Context, work: () => T): T;
  /** Closes a span with the call's attributes; outcome is a response kind or a code's name. */
  end(span: Span, attributes: Attributes, outcome: string, code: number): void;
  /** Exports the spans still buffered. */
  flush(): Promise<void>;
}

let processTracing: Promise<CallTracing> | undefined;

/** The process's tracing when the environment configures it, else undefined (and nothing of
 * OpenTelemetry loaded). The first server to start names the service (unless OTEL_SERVICE_NAME
 * does) and registers its tracer provider as the global one. */
export async function tracingFromEnv(serviceName: string, env: Env = process.env): Promise<CallTracing | undefined> {
  if (!tracesConfigured(env)) {
    return undefined;
  }
  checkExporter(env);
  processTracing ??= load(serviceName).catch((error: unknown) => {
    processTracing = undefined;
    throw error;
  });
  return processTracing;
}

function checkExporter(env: Env): void {
  const exporter = (env["OTEL_TRACES_EXPORTER"] ?? "otlp").trim().toLowerCase() || "otlp";
  if (exporter !== "otlp") {
    throw new Error(`OTEL_TRACES_EXPORTER: "${exporter}" is not supported, only otlp`);
  }
  const name = PROTOCOLS.find((key) => env[key] !== undefined);
  if (name && env[name]?.trim() !== "grpc") {
    throw new Error(`${name}: "${env[name]}" is not supported, only grpc`);
  }
}

async function load(serviceName: string): Promise<CallTracing> {
  let modules;
  try {
    modules = await Promise.all([
      import("@opentelemetry/api"),
      import("@opentelemetry/core"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-trace-node"),
      import("@opentelemetry/exporter-trace-otlp-grpc"),
    ]);
  } catch {
    throw new Error(`OTEL_* variables ask for traces: npm install ${PACKAGES}`);
  }
  const [api, core, resources, sdk, otlp] = modules;
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the server's name.
  const resource = resources
    .resourceFromAttributes({ "service.name": serviceName })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // The SDK reads OTEL_TRACES_SAMPLER{,_ARG} and OTEL_BSP_*; the exporter OTEL_EXPORTER_OTLP_*.
  const provider = new sdk.NodeTracerProvider({ resource, spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter())] });
  provider.register(); // the global provider and an AsyncLocalStorage context manager
  const tracer = provider.getTracer("jetactions");
  const propagator = new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] });
  const getter = {
    keys: (carrier: grpc.Metadata) => Object.keys(carrier.getMap()),
    get: (carrier: grpc.Metadata, key: string) => {
      const value = carrier.get(key)[0];
      return typeof value === "string" ? value : undefined;
    },
  };
  return {
    start(name, metadata) {
      const parent = propagator.extract(api.ROOT_CONTEXT, metadata, getter);
      const span = tracer.startSpan(name, { kind: api.SpanKind.SERVER }, parent);
      return { span, context: api.trace.setSpan(parent, span) };
    },
    within: (context, work) => api.context.with(context, work),
    end(span, attributes, outcome, code) {
      span.setAttributes(attributes);
      span.setAttribute("rpc.grpc.status_code", code);
      if (SERVER_ERRORS.has(outcome)) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome });
      }
      span.end();
    },
    flush: () => provider.forceFlush(),
  };
}
