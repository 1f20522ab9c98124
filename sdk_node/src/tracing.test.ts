// When traces are on, and which exporters are refused (the spans themselves are checked end to
// end by tests/test_traces.py, against a real OTLP receiver).
import assert from "node:assert/strict";
import { test } from "node:test";

import { tracesConfigured, tracingFromEnv } from "./tracing.js";

test("traces are on only when the OTEL_* variables ask for them", () => {
  const endpoint = "http://127.0.0.1:4317";
  assert.equal(tracesConfigured({}), false);
  assert.equal(tracesConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), true);
  assert.equal(tracesConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint }), true);
  assert.equal(tracesConfigured({ OTEL_TRACES_EXPORTER: "otlp" }), true);
  assert.equal(tracesConfigured({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), false);
  assert.equal(tracesConfigured({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), false);
});

test("without OTEL_* variables there is no tracing", async () => {
  assert.equal(await tracingFromEnv("t", {}), undefined);
});

test("exporters other than OTLP over gRPC are refused with the variable's name", async () => {
  const endpoint = "http://127.0.0.1:4317";
  await assert.rejects(tracingFromEnv("t", { OTEL_TRACES_EXPORTER: "console" }), /OTEL_TRACES_EXPORTER: "console" is not supported, only otlp/);
  await assert.rejects(
    tracingFromEnv("t", { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" }),
    /OTEL_EXPORTER_OTLP_PROTOCOL: "http\/protobuf" is not supported, only grpc/,
  );
});
