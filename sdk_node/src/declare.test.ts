// Declarations: what ListActions says, derived from the builder and the input schema.
import assert from "node:assert/strict";
import { test } from "node:test";

import { toJson } from "@bufbuild/protobuf";

import { action, actionServer, f, FieldType, z } from "./index.js";
import { ListActionsResponseSchema } from "./gen/jetactions/v1/actions_pb.js";
import { tester } from "./testing.js";

const noop = () => true;

test("model and common actions carry label, icon, description, timeout and idempotent", () => {
  const server = actionServer({
    name: "kinds",
    actions: {
      archive: action.model("posts", "pages").forInstance().bulk().label("Archive").icon("archive").handler(noop),
      export: action.model("posts").description("All posts as CSV").timeout(1500).idempotent().handler(noop),
      ping: action.label("Ping").handler(noop),
    },
  });
  const listing = toJson(ListActionsResponseSchema, tester(server).list());
  assert.deepEqual(listing, {
    serverName: "kinds",
    actions: [
      {
        name: "archive",
        label: "Archive",
        icon: "archive",
        modelAction: { models: ["posts", "pages"], forInstance: true, bulk: true },
      },
      {
        name: "export",
        description: "All posts as CSV",
        modelAction: { models: ["posts"] },
        timeout: "1.500s",
        idempotent: true,
      },
      { name: "ping", label: "Ping", commonAction: {} },
    ],
  });
});

test("every Jet field type, required or not, with defaults and options, comes from the schema", () => {
  const colours = [
    { value: 1, name: "Red", color: "red" },
    { value: 2, name: "Blue" },
  ] as const;
  const server = actionServer({
    name: "fields",
    actions: {
      everything: action
        .model("things")
        .input(
          z.object({
            char: z.string().meta({ title: "Name", description: "Who" }),
            text: f.text().default(""),
            integer: z.number().int().optional(),
            float: z.number().default(1.5),
            decimal: f.decimal(),
            boolean: z.boolean().default(false),
            date: f.date().optional(),
            time: f.time().optional(),
            datetime: f.datetime().optional(),
            json: f.json().optional(),
            list: z.array(z.string()).optional(),
            colour: f.select(colours),
            size: z.enum(["s", "m"]).default("m"),
            city: f.select.fromServer(() => []),
            owner: f.foreignKey("users").nullable(),
            code: z.string().meta({ jet: { placeholder: "ABC-123" } }),
          }),
        )
        .handler(noop),
    },
  });
  const listing = toJson(ListActionsResponseSchema, tester(server).list()) as {
    actions: { params: unknown[] }[];
    fieldOptions: unknown[];
  };
  assert.deepEqual(listing.actions[0]?.params, [
    { name: "char", field: "FIELD_TYPE_CHAR", required: true, label: "Name", description: "Who" },
    { name: "text", field: "FIELD_TYPE_TEXT", defaultValue: "" },
    { name: "integer", field: "FIELD_TYPE_INTEGER" },
    { name: "float", field: "FIELD_TYPE_FLOAT", defaultValue: 1.5 },
    { name: "decimal", field: "FIELD_TYPE_DECIMAL", required: true },
    { name: "boolean", field: "FIELD_TYPE_BOOLEAN", defaultValue: false },
    { name: "date", field: "FIELD_TYPE_DATE" },
    { name: "time", field: "FIELD_TYPE_TIME" },
    { name: "datetime", field: "FIELD_TYPE_DATE_TIME" },
    { name: "json", field: "FIELD_TYPE_JSON" },
    { name: "list", field: "FIELD_TYPE_JSON" },
    {
      name: "colour",
      field: "FIELD_TYPE_SELECT",
      required: true,
      options: [
        { value: 1, name: "Red", color: "red" },
        { value: 2, name: "Blue" },
      ],
    },
    {
      name: "size",
      field: "FIELD_TYPE_SELECT",
      defaultValue: "m",
      options: [
        { value: "s", name: "s" },
        { value: "m", name: "m" },
      ],
    },
    { name: "city", field: "FIELD_TYPE_SELECT", required: true, optionsFromServer: true },
    { name: "owner", field: "FIELD_TYPE_FOREIGN_KEY", relatedModel: "users" },
    { name: "code", field: "FIELD_TYPE_CHAR", required: true, extra: { placeholder: "ABC-123" } },
  ]);
  assert.deepEqual(listing.fieldOptions, [{ model: "things", field: "city" }]);
  assert.equal(FieldType.SELECT, 12);
});

test("a field-options source is declared once per model; a common action's has model ''", () => {
  const source = () => [];
  const server = actionServer({
    name: "sources",
    actions: {
      a: action.model("x", "y").input(z.object({ pick: f.select.fromServer(source) })).handler(noop),
      b: action.model("x").input(z.object({ pick: f.select.fromServer(source) })).handler(noop),
      c: action.input(z.object({ other: f.select.fromServer(source) })).handler(noop),
    },
  });
  assert.deepEqual((toJson(ListActionsResponseSchema, tester(server).list()) as { fieldOptions: unknown }).fieldOptions, [
    { model: "x", field: "pick" },
    { model: "y", field: "pick" },
    { field: "other" },
  ]);
  assert.throws(
    () =>
      actionServer({
        name: "clash",
        actions: {
          a: action.model("x").input(z.object({ pick: f.select.fromServer(() => []) })).handler(noop),
          b: action.model("x").input(z.object({ pick: f.select.fromServer(() => []) })).handler(noop),
        },
      }),
    /other options for \(x, pick\)/,
  );
});

test("declaration mistakes fail at once", () => {
  assert.throws(() => action.forInstance(), /needs model/);
  assert.throws(() => action.timeout(0), /positive/);
  assert.throws(() => actionServer({ name: "no spaces", actions: {} }), /server name/);
});

test("the handler's input has the schema's output type (checked by tsc)", async () => {
  const typed = action
    .input(z.object({ n: z.number(), tags: f.json(z.array(z.string())).default([]), pick: f.select([{ value: "a", name: "A" }]) }))
    .handler((_ctx, input) => {
      const n: number = input.n;
      const tags: string[] = input.tags;
      const pick: "a" = input.pick;
      // @ts-expect-error: not an input of this action
      void input.missing;
      return n + tags.length + pick.length;
    });
  const bare = action.handler((_ctx, input) => {
    // @ts-expect-error: an action without .input() has no inputs
    void input.anything;
  });
  const t = tester(actionServer({ name: "typed", actions: { typed, bare } }));
  assert.deepEqual(await t.execute("typed", { inputs: { n: 1, pick: "a" } }), { kind: "result", value: 2, extra: {} });
});
