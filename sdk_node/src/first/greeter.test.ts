import assert from "node:assert/strict";
import { test } from "node:test";

import { tester } from "jetactions/testing";

import { server } from "./greeter.js";

test("greet says hello", async () => {
  const outcome = await tester(server).execute("greet", { inputs: { name: "Ada", times: "2" } });
  assert.deepEqual(outcome, { kind: "result", value: true, message: "Hello, Ada! Hello, Ada!", extra: {} });
});

test("greet needs a name", async () => {
  const outcome = await tester(server).execute("greet", { inputs: {} });
  assert.deepEqual(outcome, { kind: "errors", fields: { name: ["This field is required."] }, nonFieldErrors: [] });
});
