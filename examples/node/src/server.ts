// The example action server of examples/ACTIONS.md in TypeScript, over Connect's gRPC.
//
//   node dist/server.js [--address 127.0.0.1:50053] [--prefix node_] [--grace 10]
//
// JETACTIONS_ADDRESS and JETACTIONS_PREFIX are the defaults of the two options. It prints
// "listening on HOST:PORT" once it accepts calls (port 0 picks a free port), serves
// grpc.health.v1 and stops gracefully on SIGTERM or SIGINT.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { connectNodeAdapter } from "@connectrpc/connect-node";

import { Health } from "./gen/grpc/health/v1/health_pb.js";
import { ActionService } from "./gen/jetactions/v1/actions_pb.js";
import { HealthService } from "./health.js";
import { Shop } from "./shop.js";

// Bounds messages both ways, explicitly: gRPC's defaults (4 MiB to receive, no bound to send)
// differ between languages and from the bridge.
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface Options {
  /** host:port to listen on; port 0 picks a free port. */
  address: string;
  /** Put in front of every action and model name. */
  prefix: string;
}

/** A running server: where it listens, and how to stop it. */
export interface Running {
  address: string;
  /**
   * Health NOT_SERVING, GOAWAY to every connection, and a wait for the calls in flight, for
   * at most graceMs; resolves once every connection has closed.
   */
  stop(graceMs: number): Promise<void>;
  /** Closes every connection now, ending the calls in flight. */
  abort(): void;
}

export async function serve(options: Options): Promise<Running> {
  const health = new HealthService([ActionService.typeName]);
  const handler = connectNodeAdapter({
    routes(router) {
      router.service(ActionService, new Shop(options.prefix));
      router.service(Health, health);
    },
    // gRPC only, as the bridge speaks it; no gRPC-web or Connect protocol to secure.
    grpc: true,
    grpcWeb: false,
    connect: false,
    readMaxBytes: MAX_MESSAGE_BYTES,
    writeMaxBytes: MAX_MESSAGE_BYTES,
  });
  // Plain-text HTTP/2 (h2c), as gRPC clients speak it without TLS. Node answers PINGs itself
  // and has no ping limit, so clients may keep idle connections alive with pings every 10 s.
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const { host, port } = parseAddress(options.address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;

  const abort = () => {
    for (const session of sessions) {
      session.destroy();
    }
  };
  let stopping: Promise<void> | undefined;
  return {
    abort,
    address: bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`,
    stop(graceMs) {
      stopping ??= new Promise<void>((resolve) => {
        // NOT_SERVING first (Watch streams get it, then end), so that clients move away.
        health.shutdown();
        // No new connections; the callback runs once every connection has closed.
        server.close(() => resolve());
        // GOAWAY: no new calls on open connections, which close when their calls are done.
        for (const session of sessions) {
          session.close();
        }
        setTimeout(() => {
          if (sessions.size) {
            console.error("shop: grace period over: closing the remaining calls");
            abort();
          }
        }, graceMs).unref();
      });
      return stopping;
    },
  };
}

/** "host:port", "[v6]:port" or ":port" (every interface) to listen() arguments. */
export function parseAddress(address: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) {
    throw new Error(`address must be host:port, not "${address}"`);
  }
  return { host: match[1] ?? (match[2] || undefined), port: Number(match[3]) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      address: { type: "string", default: process.env["JETACTIONS_ADDRESS"] ?? "127.0.0.1:50053" },
      prefix: { type: "string", default: process.env["JETACTIONS_PREFIX"] ?? "" },
      grace: { type: "string", default: "10" },
    },
    strict: true,
  });
  const graceSeconds = Number(values.grace);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new Error(`--grace must be a number of seconds, not "${values.grace}"`);
  }
  const running = await serve({ address: values.address, prefix: values.prefix });
  console.log(`listening on ${running.address}`);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      console.error(`shop: second ${signal}: closing the remaining calls`);
      running.abort();
      return;
    }
    console.error(`shop: ${signal}: draining for at most ${graceSeconds}s`);
    void running.stop(graceSeconds * 1000);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

// Run only as the program, so that tests can import serve().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(`shop: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
