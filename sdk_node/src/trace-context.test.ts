// A handler runs inside its call's span: spans it starts, and the active span it reads, belong
// to the caller's trace. (The export itself is checked by tests/test_traces.py.)
import assert from "node:assert/strict";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { trace } from "@opentelemetry/api";

import { ActionService as ActionServiceDesc, ExecuteActionRequestSchema, type ExecuteActionResponse } from "./gen/jetactions/v1/actions_pb.js";
import { action, actionServer, result } from "./index.js";
import { definitionOf } from "./server.js";

const ActionClient = grpc.makeGenericClientConstructor(definitionOf(ActionServiceDesc), "ActionService");

test("the call's span is active in the handler, a child of the caller's traceparent", async () => {
  // This file's process only: traces on, exported nowhere that answers (the spans are not the point).
  process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9";
  process.env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "200";
  const server = actionServer({
    name: "traced",
    actions: {
      inner: action.handler(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5)); // across an await, too
        const child = trace.getTracer("app").startSpan("db query");
        const ids = { trace: child.spanContext().traceId, active: trace.getActiveSpan()?.spanContext().spanId };
        child.end();
        return result({ message: JSON.stringify(ids) });
      }),
    },
  });
  const running = await server.serve({ address: "127.0.0.1:0", secret: "", tls: null, logWrite: () => {} });
  const client = new ActionClient(running.address, grpc.credentials.createInsecure());
  try {
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const metadata = new grpc.Metadata();
    metadata.set("traceparent", `00-${traceId}-b7ad6b7169203331-01`);
    const request = create(ExecuteActionRequestSchema, { action: "inner" });
    const reply = await new Promise<ExecuteActionResponse>((resolve, reject) =>
      (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, cb: (e: Error | null, v: unknown) => void) => void>)
        ["executeAction"]!.call(client, request, metadata, (error, value) => (error ? reject(error) : resolve(value as ExecuteActionResponse))),
    );
    assert.equal(reply.outcome.case, "result");
    const seen = JSON.parse(reply.outcome.value.message ?? "{}") as { trace: string; active?: string };
    assert.equal(seen.trace, traceId);
    assert.ok(seen.active && seen.active !== "b7ad6b7169203331", "the call's own span is the active one");
  } finally {
    client.close();
    await running.stop(0);
  }
});
