// Running actions through the testing helper: validation, context, outcomes, status errors
// and deadlines.
import assert from "node:assert/strict";
import { test } from "node:test";

import { action, ActionError, actionServer, Code, f, FieldErrors, file, REQUIRED, result, z, type ActionContext } from "./index.js";
import { AuthMethod } from "./gen/jetactions/v1/actions_pb.js";
import { tester } from "./testing.js";

function one(definition: ReturnType<typeof action.handler>) {
  return tester(actionServer({ name: "t", actions: { go: definition } }));
}

test("inputs are converted from Jet's form encoding before the handler sees them", async () => {
  const seen: unknown[] = [];
  const t = one(
    action
      .input(
        z.object({
          count: z.number().int(),
          ratio: z.number(),
          on: z.boolean(),
          amount: f.decimal(),
          when: f.datetime(),
          day: f.date(),
          pick: f.select([{ value: 1, name: "One" }]),
          note: f.text().default("none"),
          owner: f.foreignKey("users"),
          code: z.string(),
          doc: f.json(z.object({ a: z.number() })),
        }),
      )
      .handler((_ctx, input) => {
        seen.push(input);
        return true;
      }),
  );
  const outcome = await t.execute("go", {
    inputs: { count: "3", ratio: 0.5, on: "true", amount: 1.25, when: "2026-12-01T10:00:00Z", day: "2026-12-01", pick: "1", owner: "7", code: 42, doc: '{"a": 1}' },
  });
  assert.deepEqual(outcome, { kind: "result", value: true, extra: {} });
  assert.deepEqual(seen, [
    {
      count: 3,
      ratio: 0.5,
      on: true,
      amount: "1.25",
      when: new Date("2026-12-01T10:00:00Z"),
      day: "2026-12-01",
      pick: 1,
      note: "none",
      owner: "7",
      code: "42",
      doc: { a: 1 },
    },
  ]);
});

test("invalid inputs answer field errors per input and the handler is never called", async () => {
  let calls = 0;
  const t = one(
    action
      .input(
        z
          .object({
            subject: z.string(),
            count: z.number().int(),
            on: z.boolean().optional(),
            amount: f.decimal().optional(),
            pick: f.select([{ value: "a", name: "A" }]).optional(),
            tags: f.json(z.array(z.string())).optional(),
            low: z.number().default(0),
            high: z.number().default(10),
          })
          .refine((input) => input.low <= input.high, "low must not exceed high"),
      )
      .handler(() => {
        calls++;
      }),
  );
  const outcome = await t.execute("go", {
    inputs: { subject: "", count: 1.5, on: "maybe", amount: "ten", pick: "b", tags: ["x", 3] },
  });
  assert.deepEqual(outcome, {
    kind: "errors",
    fields: {
      subject: [REQUIRED],
      count: ["Enter a whole number."],
      on: ["Enter true or false."],
      amount: ["Enter a number."],
      pick: ["Select a valid choice. b is not one of the available choices."],
      tags: ["1: Enter a valid text."],
    },
    nonFieldErrors: [],
  });
  const refined = await t.execute("go", { inputs: { subject: "s", count: 1, low: 5, high: 1 } });
  assert.deepEqual(refined, { kind: "errors", fields: {}, nonFieldErrors: ["low must not exceed high"] });
  assert.equal(calls, 0);
});

test("the context has ids with their JSON types, inverseIds, model, raw inputs, params, caller, request id and deadline", async () => {
  let seen: ActionContext | undefined;
  const t = one(
    action
      .model("users")
      .bulk()
      .input(z.object({ n: z.number() }))
      .handler((ctx) => {
        seen = ctx;
      }),
  );
  await t.execute("go", {
    model: "users",
    ids: [1, "2"],
    inverseIds: true,
    inputs: { n: "4", extra: "kept" },
    messageParams: { name: "go", unknown: 1 },
    caller: { authMethod: AuthMethod.JWT, userId: "u1", userEmail: "u@example.com", project: "p", environment: "prod", claims: { role: "admin" } },
    requestId: "req-1",
    timeoutMs: 5000,
  });
  assert.ok(seen);
  assert.equal(seen.action, "go");
  assert.equal(seen.model, "users");
  assert.deepEqual(seen.ids, [1, "2"]);
  assert.equal(seen.id, 1);
  assert.equal(seen.inverseIds, true);
  assert.deepEqual(seen.inputs, { n: "4", extra: "kept" });
  assert.deepEqual(seen.messageParams, { name: "go", unknown: 1 });
  assert.deepEqual(seen.caller, {
    authMethod: "jwt",
    userId: "u1",
    userEmail: "u@example.com",
    project: "p",
    environment: "prod",
    token: "",
    claims: { role: "admin" },
  });
  assert.equal(seen.requestId, "req-1");
  assert.ok(seen.deadline && seen.deadline.getTime() > Date.now());
  assert.equal(seen.signal.aborted, false);
});

test("results: value, message, html, extra keys, field errors and a file", async () => {
  const outcomes = {
    bare: () => 42,
    none: () => undefined,
    full: () => result({ value: { n: 1 }, message: "Done", html: "<b>Done</b>", extra: { next: "/x" } }),
    thrown: () => {
      throw new FieldErrors({ a: "bad", b: ["worse", "worst"] }, ["whole"]);
    },
    returned: () => FieldErrors.form("nope"),
    download: () => file("a.csv", "id\n1\n", "text/csv"),
  };
  const t = tester(
    actionServer({
      name: "results",
      actions: Object.fromEntries(Object.entries(outcomes).map(([name, handler]) => [name, action.handler(handler)])),
    }),
  );
  assert.deepEqual(await t.execute("bare"), { kind: "result", value: 42, extra: {} });
  assert.deepEqual(await t.execute("none"), { kind: "result", value: true, extra: {} });
  assert.deepEqual(await t.execute("full"), {
    kind: "result",
    value: { n: 1 },
    message: "Done",
    html: "<b>Done</b>",
    extra: { next: "/x" },
  });
  assert.deepEqual(await t.execute("thrown"), {
    kind: "errors",
    fields: { a: ["bad"], b: ["worse", "worst"] },
    nonFieldErrors: ["whole"],
  });
  assert.deepEqual(await t.execute("returned"), { kind: "errors", fields: {}, nonFieldErrors: ["nope"] });
  const download = await t.execute("download");
  assert.equal(download.kind, "file");
  assert.deepEqual(download.kind === "file" && [download.filename, download.contentType, download.text], ["a.csv", "text/csv", "id\n1\n"]);
});

async function rejectsWith(promise: Promise<unknown>, code: Code, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ActionError, String(error));
    assert.equal(Code[error.code], Code[code]);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

test("status errors: thrown ActionError, unknown action, bad ids, and a crash is INTERNAL without its message", async () => {
  const t = tester(
    actionServer({
      name: "status",
      actions: {
        denied: action.handler(() => {
          throw new ActionError(Code.PERMISSION_DENIED, "admins only");
        }),
        crash: action.handler(() => {
          throw new Error("password=hunter2");
        }),
      },
    }),
  );
  await rejectsWith(t.execute("denied"), Code.PERMISSION_DENIED, /admins only/);
  await rejectsWith(t.execute("nope"), Code.NOT_FOUND);
  await rejectsWith(t.execute("denied", { ids: [true as unknown as number] }), Code.INVALID_ARGUMENT, /ids must be/);
  await rejectsWith(t.execute("crash", { requestId: "r9" }), Code.INTERNAL, /^action crash failed \(request id r9\)$/);
  await rejectsWith(t.fieldOptions("x", "y"), Code.NOT_FOUND);
});

test("deadlines: a passed one refuses the call, a short one ends a slow handler and aborts its signal", async () => {
  let aborted: Promise<void> | undefined;
  const slow = action.timeout(60_000).handler(
    (ctx) =>
      new Promise<boolean>((resolve) => {
        aborted = new Promise((done) => ctx.signal.addEventListener("abort", () => done()));
        setTimeout(() => resolve(true), 10_000).unref();
      }),
  );
  const quick = action.timeout(30).handler(() => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5_000).unref()));
  const t = tester(actionServer({ name: "deadlines", actions: { slow, quick } }));
  await rejectsWith(t.execute("slow", { timeoutMs: 0 }), Code.DEADLINE_EXCEEDED, /before/);
  await rejectsWith(t.execute("slow", { timeoutMs: 50 }), Code.DEADLINE_EXCEEDED, /during/);
  await aborted;
  // The action's own timeout bounds it too.
  await rejectsWith(t.execute("quick"), Code.DEADLINE_EXCEEDED, /during/);
  const cancel = new AbortController();
  const pending = t.execute("slow", { signal: cancel.signal });
  cancel.abort();
  await rejectsWith(pending, Code.CANCELLED);
});

test("field options see the current form", async () => {
  const cities = f.select.fromServer((ctx) =>
    ctx.form["country"] === "uk" ? [{ value: "leeds", name: "Leeds", color: "yellow" }] : [],
  );
  const t = tester(
    actionServer({
      name: "options",
      actions: { ship: action.model("orders").input(z.object({ country: z.string(), city: cities })).handler(() => true) },
    }),
  );
  assert.deepEqual(await t.fieldOptions("orders", "city", { country: "uk" }), [{ value: "leeds", name: "Leeds", color: "yellow" }]);
  assert.deepEqual(await t.fieldOptions("orders", "city", { country: "fr" }), []);
});
