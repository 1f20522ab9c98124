// The gRPC server, through real connections on loopback ports: listing, the shared secret,
// health, reflection, message limits, TLS and mutual TLS, log lines and the graceful drain.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";

import {
  ActionService as ActionServiceDesc,
  ExecuteActionRequestSchema,
  ListActionsRequestSchema,
  type ExecuteActionResponse,
  type ListActionsResponse,
} from "./gen/jetactions/v1/actions_pb.js";
import { action, actionServer, Code, type RunningServer, type ServeOptions, z } from "./index.js";
import { definitionOf } from "./server.js";
import { settingsOf } from "./settings.js";

const ActionClient = grpc.makeGenericClientConstructor(definitionOf(ActionServiceDesc), "ActionService");
const HealthClient = grpc.makeGenericClientConstructor(healthService, "Health");
const reflectionProto = createRequire(import.meta.url).resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
const reflection = grpc.loadPackageDefinition(loadSync(reflectionProto)) as unknown as {
  grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
};

type Unary = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => void;

function call<T>(client: grpc.Client, method: string, request: unknown, metadata: Record<string, string> = {}, deadlineMs = 5000): Promise<T> {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  const fn = (client as unknown as Record<string, Unary>)[method]!.bind(client);
  return new Promise((resolve, reject) =>
    fn(request, md, { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response as T))),
  );
}

async function rejectsWith(promise: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  let caught: grpc.ServiceError | undefined;
  await assert.rejects(promise, (error: grpc.ServiceError) => {
    assert.equal(grpc.status[error.code], grpc.status[code], error.details);
    caught = error;
    return true;
  });
  return caught!;
}

/** A server with one slow action whose runs the test releases by hand. */
function slowServer() {
  const started: (() => void)[] = [];
  const releases: (() => void)[] = [];
  const server = actionServer({
    name: "slow-test",
    actions: {
      echo: action.input(z.object({ text: z.string().default("") })).handler((_ctx, { text }) => text),
      wait: action.handler(
        () =>
          new Promise<string>((resolve) => {
            releases.push(() => resolve("released"));
            started.shift()?.();
          }),
      ),
    },
  });
  const nextStart = () => new Promise<void>((resolve) => started.push(resolve));
  return { server, nextStart, release: () => releases.shift()?.() };
}

async function serving(options: ServeOptions = {}) {
  const lines: string[] = [];
  const slow = slowServer();
  const running = await slow.server.serve({ address: "127.0.0.1:0", secret: "", tls: null, logLevel: "debug", logWrite: (line) => lines.push(line), ...options });
  return { ...slow, running, lines };
}

function clients(running: RunningServer, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}) {
  const actions = new ActionClient(running.address, credentials, options);
  const health = new HealthClient(running.address, credentials, options);
  return { actions, health, close: () => (actions.close(), health.close()) };
}

const execute = (name: string, inputs = {}) => create(ExecuteActionRequestSchema, { action: name, inputs });
const list = create(ListActionsRequestSchema, {});

test("serves ListActions with its name, logs 'serving on HOST:PORT' and puts the request id on call lines", async () => {
  const { running, lines } = await serving();
  const { actions, close } = clients(running);
  try {
    assert.match(lines[0]!, new RegExp(`INFO jetactions slow-test: serving on 127\\.0\\.0\\.1:${running.port} `));
    const listing = await call<ListActionsResponse>(actions, "listActions", list);
    assert.equal(listing.serverName, "slow-test");
    assert.deepEqual(listing.actions.map((a) => a.name), ["echo", "wait"]);
    const response = await call<ExecuteActionResponse>(actions, "executeAction", execute("echo", { text: "hi" }), { "x-request-id": "req-42" });
    assert.equal(response.outcome.case, "result");
    assert.ok(lines.some((line) => / ExecuteAction ok action=echo .*request_id=req-42/.test(line)), lines.join(""));
    await rejectsWith(call(actions, "executeAction", execute("missing"), { "x-request-id": "req-43" }), grpc.status.NOT_FOUND);
    assert.ok(lines.some((line) => /ExecuteAction NOT_FOUND.*request_id=req-43/.test(line)), lines.join(""));
  } finally {
    close();
    await running.stop(0);
  }
});

test("JETACTIONS_LOG_FORMAT=json: one JSON object per line", async () => {
  const { running, lines } = await serving({ logFormat: "json" });
  await running.stop(0);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first["msg"], `serving on 127.0.0.1:${running.port}`);
  assert.equal(first["level"], "info");
  assert.equal(first["server"], "slow-test");
  assert.deepEqual(lines.map((line) => (JSON.parse(line) as { msg: string }).msg.split(":")[0]), ["serving on 127.0.0.1", "draining", "stopped"]);
});

test("the shared secret guards ActionService only", async () => {
  const { running } = await serving({ secret: "s3cret" });
  const { actions, health, close } = clients(running);
  try {
    await rejectsWith(call(actions, "listActions", list), grpc.status.UNAUTHENTICATED);
    await rejectsWith(call(actions, "listActions", list, { "x-jetbridge-secret": "wrong" }), grpc.status.UNAUTHENTICATED);
    await rejectsWith(call(actions, "listActions", list, { "x-jetbridge-secret": "s3cret-and-more" }), grpc.status.UNAUTHENTICATED);
    const listing = await call<ListActionsResponse>(actions, "listActions", list, { "x-jetbridge-secret": "s3cret" });
    assert.equal(listing.actions.length, 2);
    assert.deepEqual(await call(health, "check", { service: "jetactions.v1.ActionService" }), { status: "SERVING" });
  } finally {
    close();
    await running.stop(0);
  }
});

test("health for '' and the service; reflection v1 lists the services and their files", async () => {
  const { running } = await serving();
  const { health, close } = clients(running);
  const client = new reflection.grpc.reflection.v1.ServerReflection(running.address, grpc.credentials.createInsecure());
  try {
    assert.deepEqual(await call(health, "check", { service: "" }), { status: "SERVING" });
    assert.deepEqual(await call(health, "check", { service: "jetactions.v1.ActionService" }), { status: "SERVING" });
    const stream = (client as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<object, Record<string, unknown>> }).serverReflectionInfo();
    const answers: Record<string, unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (answer: Record<string, unknown>) => {
        answers.push(answer);
        if (answers.length === 2) stream.end();
      });
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    stream.write({ listServices: "*" });
    stream.write({ fileContainingSymbol: "jetactions.v1.ActionService" });
    await done;
    const services = (answers[0]!["listServicesResponse"] as { service: { name: string }[] }).service.map((s) => s.name);
    assert.ok(services.includes("jetactions.v1.ActionService"), services.join());
    assert.ok(services.includes("grpc.health.v1.Health"), services.join());
    const files = (answers[1]!["fileDescriptorResponse"] as { fileDescriptorProto: Buffer[] }).fileDescriptorProto;
    assert.ok(files.some((file) => file.toString("latin1").includes("jetactions/v1/actions.proto")));
  } finally {
    client.close();
    close();
    await running.stop(0);
  }
});

test("messages of up to 16 MiB are accepted both ways by default, larger ones refused", async () => {
  const { running } = await serving();
  const big = { "grpc.max_receive_message_length": 64 << 20, "grpc.max_send_message_length": 64 << 20 };
  const { actions, close } = clients(running, undefined, big);
  try {
    const text = "x".repeat(8 << 20); // twice gRPC's usual 4 MiB default
    const response = await call<ExecuteActionResponse>(actions, "executeAction", execute("echo", { text }), {}, 30_000);
    assert.equal(response.outcome.case === "result" && response.outcome.value.value?.kind.value, text);
    await rejectsWith(call(actions, "executeAction", execute("echo", { text: "x".repeat(17 << 20) }), {}, 30_000), grpc.status.RESOURCE_EXHAUSTED);
  } finally {
    close();
    await running.stop(0);
  }
});

test("stop drains: NOT_SERVING, calls in flight finish, then new calls are refused and it stops", async () => {
  const { running, lines, nextStart, release } = await serving();
  const { actions, health, close } = clients(running);
  try {
    const started = nextStart();
    const inFlight = call<ExecuteActionResponse>(actions, "executeAction", execute("wait"), {}, 10_000);
    await started;
    const stopped = running.stop(5000);
    assert.deepEqual(await call(health, "check", { service: "" }), { status: "NOT_SERVING" });
    // Still accepted during the drain delay, on the open connection.
    assert.equal((await call<ExecuteActionResponse>(actions, "executeAction", execute("echo"))).outcome.case, "result");
    release();
    const response = await inFlight;
    assert.equal(response.outcome.case === "result" && response.outcome.value.value?.kind.value, "released");
    await stopped;
    assert.ok(lines.some((line) => line.includes("draining")) && lines.at(-1)!.includes("stopped"), lines.join(""));
    await assert.rejects(call(actions, "listActions", list, {}, 1000), (error: grpc.ServiceError) =>
      [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED].includes(error.code),
    );
  } finally {
    close();
  }
});

test("stop ends calls still running when the grace is over", async () => {
  const { running, nextStart } = await serving();
  const { actions, close } = clients(running);
  try {
    const started = nextStart();
    const inFlight = call(actions, "executeAction", execute("wait"), {}, 10_000);
    await started;
    const before = Date.now();
    await running.stop(200);
    assert.ok(Date.now() - before < 3000);
    await assert.rejects(inFlight, (error: grpc.ServiceError) =>
      [grpc.status.CANCELLED, grpc.status.UNAVAILABLE].includes(error.code),
    );
  } finally {
    close();
  }
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl. */
function certificates() {
  const dir = mkdtempSync(join(tmpdir(), "jetactions-tls-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const key = (name: string) => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`];
  openssl("req", "-x509", ...key("ca"), "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const name of ["server", "client"]) {
    openssl("req", ...key(name), "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", "san.ext");
  }
  const file = (name: string) => join(dir, name);
  const read = (name: string) => readFileSync(file(name));
  return { file, read };
}

test("TLS, and mutual TLS with a client CA", async () => {
  const certs = certificates();
  const tls = { certFile: certs.file("server.pem"), keyFile: certs.file("server.key") };
  const plain = await serving({ tls });
  const server = clients(plain.running, grpc.credentials.createSsl(certs.read("ca.pem")));
  try {
    assert.equal((await call<ListActionsResponse>(server.actions, "listActions", list)).serverName, "slow-test");
    assert.match(plain.lines[0]!, /tls=server/);
  } finally {
    server.close();
    await plain.running.stop(0);
  }
  const mutual = await serving({ tls: { ...tls, clientCaFile: certs.file("ca.pem") } });
  const withCert = clients(mutual.running, grpc.credentials.createSsl(certs.read("ca.pem"), certs.read("client.key"), certs.read("client.pem")));
  const withoutCert = clients(mutual.running, grpc.credentials.createSsl(certs.read("ca.pem")));
  try {
    assert.equal((await call<ListActionsResponse>(withCert.actions, "listActions", list)).serverName, "slow-test");
    await rejectsWith(call(withoutCert.actions, "listActions", list, {}, 3000), grpc.status.UNAVAILABLE);
    assert.match(mutual.lines[0]!, /tls=mutual/);
  } finally {
    withCert.close();
    withoutCert.close();
    await mutual.running.stop(0);
  }
});

test("settings come from the environment; explicit options win; bad values are refused by name", () => {
  const env = {
    JETACTIONS_ADDRESS: "0.0.0.0:6000",
    JETBRIDGE_SECRET: "env-secret",
    JETACTIONS_TLS_CERT_FILE: "/c.pem",
    JETACTIONS_TLS_KEY_FILE: "/k.pem",
    JETACTIONS_TLS_CLIENT_CA_FILE: "/ca.pem",
    JETACTIONS_MAX_MESSAGE_BYTES: "1024",
    JETACTIONS_GRACE: "2.5",
    JETACTIONS_LOG_FORMAT: "json",
    JETACTIONS_LOG_LEVEL: "debug",
    JETACTIONS_METRICS_PORT: "9464",
  };
  assert.deepEqual(settingsOf({}, env), {
    address: "0.0.0.0:6000",
    secret: "env-secret",
    tls: { certFile: "/c.pem", keyFile: "/k.pem", clientCaFile: "/ca.pem" },
    maxMessageBytes: 1024,
    graceMs: 2500,
    logFormat: "json",
    logLevel: "debug",
    logWrite: undefined,
    metricsPort: 9464,
  });
  const explicit = settingsOf({ address: "127.0.0.1:0", secret: "", tls: null, graceMs: 0 }, env);
  assert.deepEqual([explicit.address, explicit.secret, explicit.tls, explicit.graceMs], ["127.0.0.1:0", "", null, 0]);
  assert.deepEqual(settingsOf({}, {}), {
    address: "127.0.0.1:50051",
    secret: "",
    tls: null,
    maxMessageBytes: 16 * 1024 * 1024,
    graceMs: 10_000,
    logFormat: "text",
    logLevel: "info",
    logWrite: undefined,
    metricsPort: null,
  });
  assert.throws(() => settingsOf({}, { JETBRIDGE_SECRET: "" }), /JETBRIDGE_SECRET is set but empty/);
  assert.throws(() => settingsOf({}, { JETACTIONS_BRIDGE_SECRET: "x" }), /name the shared secret JETBRIDGE_SECRET/);
  assert.throws(() => settingsOf({}, { JETACTIONS_TLS_CERT_FILE: "/c.pem" }), /JETACTIONS_TLS_KEY_FILE/);
  assert.throws(() => settingsOf({}, { JETACTIONS_GRACE: "soon" }), /JETACTIONS_GRACE/);
  assert.throws(() => settingsOf({}, { JETACTIONS_LOG_FORMAT: "xml" }), /JETACTIONS_LOG_FORMAT/);
  assert.throws(() => settingsOf({}, { JETACTIONS_METRICS_PORT: "70000" }), /JETACTIONS_METRICS_PORT/);
});

test("JETACTIONS_METRICS_PORT: Prometheus metrics per method, action and outcome, with bounded labels", async () => {
  const { running, lines } = await serving({ metricsPort: 0 });
  const { actions, close } = clients(running);
  try {
    assert.ok(running.metricsPort);
    assert.match(lines[0]!, new RegExp(`metrics=127\\.0\\.0\\.1:${running.metricsPort}`));
    await call(actions, "executeAction", execute("echo"));
    await rejectsWith(call(actions, "executeAction", execute("no-such-action")), grpc.status.NOT_FOUND);
    const text = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
    assert.match(text, /rpc_server_calls_total\{rpc_method="ExecuteAction",action="echo",outcome="result"\} 1/);
    assert.match(text, /rpc_server_calls_total\{rpc_method="ExecuteAction",action="",outcome="NOT_FOUND"\} 1/);
    assert.match(text, /rpc_server_duration_seconds_bucket\{le="0.001",rpc_method="ExecuteAction",action="echo",outcome="result"\}/);
    assert.match(text, /rpc_server_active_requests\{rpc_method="ExecuteAction"\} 0/);
  } finally {
    close();
    await running.stop(0);
  }
  await assert.rejects(fetch(`http://127.0.0.1:${running.metricsPort}/metrics`));
});

test("a busy address fails serve()", async () => {
  const { running } = await serving();
  try {
    await assert.rejects(slowServer().server.serve({ address: running.address, tls: null, secret: "", logWrite: () => {} }));
  } finally {
    await running.stop(0);
  }
  assert.equal(Code.OK, 0);
});
