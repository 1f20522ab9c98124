// node --test dist/: the handlers directly, then a real server on a free port.
import assert from "node:assert/strict";
import { test } from "node:test";

import { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createHandlerContext } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { Health, HealthCheckResponse_ServingStatus } from "./gen/grpc/health/v1/health_pb.js";
import {
  ActionService,
  ExecuteActionRequestSchema,
  ExecuteActionResponseSchema,
} from "./gen/jetactions/v1/actions_pb.js";
import { serve } from "./server.js";
import { Shop } from "./shop.js";

/** Runs an action and returns the response in its JSON form, as MessageToDict shows it. */
function execute(
  shop: Shop,
  action: string,
  ids: JsonValue[] = [],
  inputs: JsonObject = {},
  inverseIds = false,
): JsonValue {
  const request = create(ExecuteActionRequestSchema, {
    action,
    ids: ids.map((id) => fromJson(ValueSchema, id)),
    inputs,
    inverseIds,
  });
  const context = createHandlerContext({
    service: ActionService,
    method: ActionService.method.executeAction,
    protocolName: "grpc",
    requestMethod: "POST",
    url: "http://127.0.0.1/",
  });
  const response = create(ExecuteActionResponseSchema, shop.executeAction(request, context));
  return toJson(ExecuteActionResponseSchema, response);
}

const fieldErrors = (fields: Record<string, string>) => ({
  errors: {
    fields: Object.fromEntries(Object.entries(fields).map(([name, message]) => [name, { messages: [message] }])),
  },
});
const message = (text: string) => ({ result: { value: true, message: text } });

test("mail_users counts ids, or the other users with inverseIds", () => {
  const shop = new Shop("node_");
  const hi = { subject: "Hi" };
  assert.deepEqual(execute(shop, "node_mail_users", [1, "3"], hi), message("Mailed 2 users"));
  assert.deepEqual(execute(shop, "node_mail_users", [1], hi, true), message("Mailed 4 users"));
  assert.deepEqual(execute(shop, "node_mail_users", [1, 9], hi), {
    errors: { nonFieldErrors: ["Unknown user id: 9"] },
  });
  assert.deepEqual(
    execute(shop, "node_mail_users", [1], { urgent: "maybe" }),
    fieldErrors({ subject: "This field is required.", urgent: "Enter true or false." }),
  );
});

test("adjust_wallet refuses amounts that are not positive", () => {
  const shop = new Shop();
  const adjust = (amount: JsonValue) => execute(shop, "adjust_wallet", [2], { amount });
  assert.deepEqual(adjust("0.00"), fieldErrors({ amount: "must be positive" }));
  assert.deepEqual(adjust("ten"), fieldErrors({ amount: "Enter a number." }));
  assert.deepEqual(adjust(5), {
    result: { value: true, html: "Wallet of <strong>Brian</strong> was updated" },
  });
});

test("export_users is a CSV file", () => {
  const csv =
    "id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n3,Chen,chen@example.com\n" +
    "4,Dana,dana@example.com\n5,Emil,emil@example.com\n";
  assert.deepEqual(execute(new Shop(), "export_users"), {
    file: { filename: "users.csv", contentType: "text/csv", content: Buffer.from(csv).toString("base64") },
  });
});

test("ship_order, refresh_stats and unknown actions", () => {
  const shop = new Shop();
  assert.deepEqual(
    execute(shop, "ship_order", [7], { carrier: "dhl", country: "italy", city: "rome" }),
    message("Order 7 ships with DHL to Rome"),
  );
  assert.deepEqual(
    execute(shop, "ship_order", [7], { carrier: "fedex", country: "uk", city: "leeds" }),
    fieldErrors({ carrier: "Select a valid choice. fedex is not one of the available choices." }),
  );
  assert.deepEqual(
    execute(shop, "ship_order", [7], { carrier: "ups", country: "uk", city: "rome" }),
    fieldErrors({ city: "not a city of United Kingdom" }),
  );
  assert.deepEqual(execute(shop, "refresh_stats"), { result: { value: true } });
  assert.throws(
    () => execute(shop, "nope"),
    (error) => error instanceof ConnectError && error.code === Code.NotFound,
  );
  assert.throws(
    () => execute(shop, "mail_users", [true], { subject: "Hi" }),
    (error) => error instanceof ConnectError && error.code === Code.InvalidArgument,
  );
});

test("a real server: health, ListActions and field options", async () => {
  const running = await serve({ address: "127.0.0.1:0", prefix: "node_" });
  try {
    const transport = createGrpcTransport({ baseUrl: `http://${running.address}` });
    const health = createClient(Health, transport);
    for (const service of ["", "jetactions.v1.ActionService"]) {
      const { status } = await health.check({ service });
      assert.equal(status, HealthCheckResponse_ServingStatus.SERVING);
    }
    const client = createClient(ActionService, transport);
    const listed = await client.listActions({});
    assert.deepEqual(
      listed.actions.map((action) => action.name),
      ["node_mail_users", "node_adjust_wallet", "node_export_users", "node_ship_order", "node_refresh_stats"],
    );
    const cities = async (country: string) =>
      (await client.getFieldOptions({ model: "node_orders", field: "city", form: { country } })).options.map(
        (option) => option.name,
      );
    assert.deepEqual(await cities("italy"), ["Rome", "Milan"]);
    assert.deepEqual(await cities("uk"), ["London", "Leeds"]);
    assert.deepEqual(await cities("france"), []);
  } finally {
    await running.stop(1000);
  }
});
