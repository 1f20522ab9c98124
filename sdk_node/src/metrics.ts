// Prometheus metrics of ActionService calls (opt-in: JETACTIONS_METRICS_PORT), with the names and
// labels of the Python SDK, in prom-client's default registry so that an application's own
// metrics appear on the same endpoint.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { Counter, Gauge, Histogram, register } from "prom-client";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LABELS = ["rpc_method", "action", "outcome"] as const;

/** The process's call metrics; created once, shared by every server of the process. */
export interface CallMetrics {
  readonly duration: Histogram<(typeof LABELS)[number]>;
  readonly calls: Counter<(typeof LABELS)[number]>;
  readonly active: Gauge<"rpc_method">;
}

let metrics: CallMetrics | undefined;

export function callMetrics(): CallMetrics {
  metrics ??= {
    duration: new Histogram({
      name: "rpc_server_duration_seconds",
      help: "Duration of ActionService calls, by method, action and outcome.",
      labelNames: LABELS,
      buckets: BUCKETS,
    }),
    calls: new Counter({
      name: "rpc_server_calls_total",
      help: "ActionService calls, by method, action and outcome.",
      labelNames: LABELS,
    }),
    active: new Gauge({ name: "rpc_server_active_requests", help: "ActionService calls in progress.", labelNames: ["rpc_method"] }),
  };
  return metrics;
}

/** GET /metrics on host:port (port 0 picks one); resolves once listening. */
export async function serveMetrics(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    register.metrics().then(
      (text) => response.writeHead(200, { "Content-Type": register.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host.replace(/^\[|\]$/g, "") || undefined, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
