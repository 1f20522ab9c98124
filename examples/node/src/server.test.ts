// node --test dist/: the shop's actions through the SDK's testing helper (the conformance
// suite checks the running server).
import assert from "node:assert/strict";
import { test } from "node:test";

import { tester } from "jetactions/testing";

import { shop } from "./server.js";

test("the shop's actions, with the prefix on every name", async () => {
  const t = tester(shop("node_"));
  assert.deepEqual(
    t.list().actions.map((a) => a.name),
    ["node_mail_users", "node_adjust_wallet", "node_export_users", "node_ship_order", "node_refresh_stats"],
  );
  const mailed = await t.execute("node_mail_users", { model: "node_users", ids: [1], inverseIds: true, inputs: { subject: "Hi" } });
  assert.deepEqual(mailed, { kind: "result", value: true, message: "Mailed 4 users", extra: {} });
  const wallet = await t.execute("node_adjust_wallet", { model: "node_users", ids: ["3"], inputs: { amount: "0" } });
  assert.deepEqual(wallet, { kind: "errors", fields: { amount: ["must be positive"] }, nonFieldErrors: [] });
  const shipped = await t.execute("node_ship_order", {
    model: "node_orders",
    ids: [42],
    inputs: { carrier: "dhl", country: "uk", city: "leeds" },
  });
  assert.deepEqual(shipped, { kind: "result", value: true, message: "Order 42 ships with DHL to Leeds", extra: {} });
  const csv = await t.execute("node_export_users", { model: "node_users" });
  assert.equal(csv.kind === "file" && csv.text.split("\n")[1], "1,Ada,ada@example.com");
  assert.deepEqual(await t.fieldOptions("node_orders", "city", { country: "constructor" }), []);
});
