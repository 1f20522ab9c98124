// The example actions of examples/ACTIONS.md.
import { create, fromJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";

import {
  ActionSchema,
  type ActionService,
  type ExecuteActionRequest,
  type ExecuteActionResponseSchema,
  FieldType,
  type GetFieldOptionsRequest,
  OptionSchema,
  type Action,
  type Option,
} from "./gen/jetactions/v1/actions_pb.js";
import { decimal, json, text, validate } from "./validate.js";

type Outcome = MessageInitShape<typeof ExecuteActionResponseSchema>;

/**
 * Refuses a call whose deadline has passed before it starts: the abort signal fires on a timer,
 * so a call that arrives already late would otherwise still run.
 */
function checkDeadline(context: HandlerContext): void {
  context.signal.throwIfAborted();
  const left = context.timeoutMs();
  if (left !== undefined && left <= 0) {
    throw new ConnectError("deadline exceeded before the call started", Code.DeadlineExceeded);
  }
}

interface User {
  readonly id: number;
  readonly name: string;
  readonly email: string;
  wallet: number;
}

/**
 * The shop's actions, served as jetactions.v1.ActionService. Every action and model name it
 * declares or accepts starts with `prefix`.
 */
export class Shop implements ServiceImpl<typeof ActionService> {
  readonly #prefix: string;
  // Built once and never modified: ListActions shares them.
  readonly #actions: Action[];
  readonly #byName: Map<string, Action>;
  readonly #users: User[] = [
    { id: 1, name: "Ada", email: "ada@example.com", wallet: 10.0 },
    { id: 2, name: "Brian", email: "brian@example.com", wallet: 0.0 },
    { id: 3, name: "Chen", email: "chen@example.com", wallet: 25.5 },
    { id: 4, name: "Dana", email: "dana@example.com", wallet: 3.75 },
    { id: 5, name: "Emil", email: "emil@example.com", wallet: 100.0 },
  ];

  constructor(prefix = "") {
    this.#prefix = prefix;
    this.#actions = catalog(prefix);
    this.#byName = new Map(this.#actions.map((action) => [action.name, action]));
  }

  listActions(_request: unknown, context: HandlerContext) {
    checkDeadline(context);
    return {
      actions: this.#actions,
      fieldOptions: [{ model: `${this.#prefix}orders`, field: "city" }],
    };
  }

  /**
   * Runs one action. Invalid inputs get field errors; an unknown action is NOT_FOUND and an
   * id that is neither a number nor a string INVALID_ARGUMENT.
   */
  executeAction(request: ExecuteActionRequest, context: HandlerContext): Outcome {
    checkDeadline(context);
    const action = this.#byName.get(request.action);
    if (!action) {
      throw new ConnectError(`unknown action "${request.action}"`, Code.NotFound);
    }
    if (!request.ids.every((id) => id.kind.case === "numberValue" || id.kind.case === "stringValue")) {
      throw new ConnectError("ids must be numbers or strings", Code.InvalidArgument);
    }
    const errors = validate(action.params, request.inputs);
    if (errors) {
      return fieldErrors({ fields: errors });
    }
    switch (action.name.slice(this.#prefix.length)) {
      case "mail_users":
        return this.#mailUsers(request);
      case "adjust_wallet":
        return this.#adjustWallet(request);
      case "export_users":
        return this.#exportUsers();
      case "ship_order":
        return shipOrder(request);
      default: // refresh_stats
        return result({});
    }
  }

  /** The options of (orders, city): the cities of form.country. */
  getFieldOptions(request: GetFieldOptionsRequest, context: HandlerContext) {
    checkDeadline(context);
    if (request.model !== `${this.#prefix}orders` || request.field !== "city") {
      throw new ConnectError(
        `no field options for model "${request.model}", field "${request.field}"`,
        Code.NotFound,
      );
    }
    return { options: CITIES.get(text(request.form?.["country"])) ?? [] };
  }

  #mailUsers(request: ExecuteActionRequest): Outcome {
    const selected = new Set<number>();
    for (const id of request.ids) {
      const user = this.#lookup(id);
      if (!user) {
        return unknownUser(id);
      }
      selected.add(user.id);
    }
    // With inverseIds: every user except the selected ones (select all, then deselect).
    const n = request.inverseIds ? this.#users.length - selected.size : request.ids.length;
    return result({ message: `Mailed ${n} users` });
  }

  #adjustWallet(request: ExecuteActionRequest): Outcome {
    const amount = decimal(request.inputs?.["amount"])!; // validated
    if (!amount.positive) {
      return fieldErrors({ fields: { amount: ["must be positive"] } });
    }
    const [first] = request.ids;
    if (!first) {
      return fieldErrors({ nonFieldErrors: ["Select a user"] });
    }
    const user = this.#lookup(first);
    if (!user) {
      return unknownUser(first);
    }
    user.wallet = Math.round((user.wallet + amount.value) * 100) / 100;
    return result({ html: `Wallet of <strong>${escapeHtml(user.name)}</strong> was updated` });
  }

  #exportUsers(): Outcome {
    const rows = [["id", "name", "email"], ...this.#users.map((u) => [String(u.id), u.name, u.email])];
    const csv = rows.map((row) => row.map(csvField).join(",") + "\n").join("");
    return {
      outcome: {
        case: "file",
        value: { filename: "users.csv", contentType: "text/csv", content: new TextEncoder().encode(csv) },
      },
    };
  }

  // The user an id names. Ids keep their JSON type: user 1 may come as 1 or as "1".
  #lookup(id: Value): User | undefined {
    const raw = text(json(id));
    return this.#users.find((user) => String(user.id) === raw);
  }
}

// Names the carrier and the city by their option names ("DHL", "Rome"), as the user saw them
// on the form.
function shipOrder(request: ExecuteActionRequest): Outcome {
  const [first] = request.ids;
  if (!first) {
    return fieldErrors({ nonFieldErrors: ["Select an order"] });
  }
  const inputs = request.inputs ?? {};
  const [country, city] = [text(inputs["country"]), text(inputs["city"])];
  const cities = CITIES.get(country) ?? [];
  if (!cities.some((option) => json(option.value) === city)) {
    return fieldErrors({ fields: { city: [`not a city of ${nameOf(COUNTRIES, country)}`] } });
  }
  const carrier = nameOf(CARRIERS, text(inputs["carrier"]));
  return result({ message: `Order ${text(json(first))} ships with ${carrier} to ${nameOf(cities, city)}` });
}

/** The name of the option whose value is `value`, or `value` itself. */
function nameOf(options: readonly Option[], value: string): string {
  return options.find((option) => json(option.value) === value)?.name ?? value;
}

function unknownUser(id: Value): Outcome {
  return fieldErrors({ nonFieldErrors: [`Unknown user id: ${text(json(id))}`] });
}

/** The actions in the order of examples/ACTIONS.md. */
function catalog(prefix: string): Action[] {
  const users = `${prefix}users`;
  const orders = `${prefix}orders`;
  const actions: MessageInitShape<typeof ActionSchema>[] = [
    {
      name: `${prefix}mail_users`,
      label: "Mail users",
      icon: "email",
      kind: { case: "modelAction", value: { models: [users], forInstance: true, bulk: true } },
      params: [
        { name: "subject", field: FieldType.CHAR, required: true },
        { name: "body", field: FieldType.TEXT, defaultValue: value("") },
        { name: "urgent", field: FieldType.BOOLEAN, defaultValue: value(false) },
      ],
    },
    {
      name: `${prefix}adjust_wallet`,
      label: "Adjust wallet",
      kind: { case: "modelAction", value: { models: [users], forInstance: true } },
      params: [{ name: "amount", field: FieldType.DECIMAL, required: true }],
    },
    {
      name: `${prefix}export_users`,
      label: "Export users",
      kind: { case: "modelAction", value: { models: [users] } },
    },
    {
      name: `${prefix}ship_order`,
      label: "Ship order",
      kind: { case: "modelAction", value: { models: [orders], forInstance: true } },
      params: [
        {
          name: "carrier",
          field: FieldType.SELECT,
          required: true,
          options: CARRIERS,
        },
        {
          name: "country",
          field: FieldType.SELECT,
          required: true,
          options: COUNTRIES,
        },
        { name: "city", field: FieldType.SELECT, required: true, optionsFromServer: true },
      ],
    },
    {
      name: `${prefix}refresh_stats`,
      label: "Refresh stats",
      kind: { case: "commonAction", value: {} },
    },
  ];
  return actions.map((init) => create(ActionSchema, init));
}

const CARRIERS = [option("dhl", "DHL"), option("ups", "UPS")];
const COUNTRIES = [option("italy", "Italy"), option("uk", "United Kingdom")];
// A Map, not an object: a country named "constructor" must find nothing.
const CITIES = new Map<string, Option[]>([
  ["italy", [option("rome", "Rome", "red"), option("milan", "Milan", "green")]],
  ["uk", [option("london", "London", "blue"), option("leeds", "Leeds", "yellow")]],
]);

function value(raw: JsonValue): Value {
  return fromJson(ValueSchema, raw);
}

function option(raw: string, name: string, color = ""): Option {
  return create(OptionSchema, { value: value(raw), name, color });
}

/** A successful outcome; its value is always true here. */
function result(init: { message?: string; html?: string }): Outcome {
  return { outcome: { case: "result", value: { value: value(true), ...init } } };
}

function fieldErrors(init: { nonFieldErrors?: string[]; fields?: Record<string, string[]> }): Outcome {
  const fields = Object.fromEntries(
    Object.entries(init.fields ?? {}).map(([name, messages]) => [name, { messages }]),
  );
  return { outcome: { case: "errors", value: { nonFieldErrors: init.nonFieldErrors ?? [], fields } } };
}

function csvField(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

const HTML_ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" };

function escapeHtml(raw: string): string {
  return raw.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}
