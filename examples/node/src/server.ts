// The example shop (examples/ACTIONS.md) as a Node action server on the jetactions SDK.
//
//   node dist/server.js [--address 127.0.0.1:50053] [--prefix node_]
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { action, actionServer, f, FieldErrors, file, result, z, type Id, type Option } from "jetactions";

const CARRIERS = [
  { value: "dhl", name: "DHL" },
  { value: "ups", name: "UPS" },
] as const satisfies readonly Option[];
const COUNTRIES = [
  { value: "italy", name: "Italy" },
  { value: "uk", name: "United Kingdom" },
] as const satisfies readonly Option[];
// A Map, not an object: a country named "constructor" finds nothing.
const CITIES = new Map<string, readonly Option[]>([
  ["italy", [{ value: "rome", name: "Rome", color: "red" }, { value: "milan", name: "Milan", color: "green" }]],
  ["uk", [{ value: "london", name: "London", color: "blue" }, { value: "leeds", name: "Leeds", color: "yellow" }]],
]);

interface User {
  readonly id: number;
  readonly name: string;
  readonly email: string;
  wallet: number; // in cents
}

/** The users every start begins with. */
export function initialUsers(): User[] {
  return [
    { id: 1, name: "Ada", email: "ada@example.com", wallet: 1000 },
    { id: 2, name: "Brian", email: "brian@example.com", wallet: 0 },
    { id: 3, name: "Chen", email: "chen@example.com", wallet: 2550 },
    { id: 4, name: "Dana", email: "dana@example.com", wallet: 375 },
    { id: 5, name: "Emil", email: "emil@example.com", wallet: 10000 },
  ];
}

function nameOf(options: readonly Option[], value: string): string {
  return options.find((option) => option.value === value)?.name ?? value;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Builds the shop; `prefix` goes in front of every action and model name. */
export function shop(prefix = "") {
  const users = initialUsers();
  const usersModel = `${prefix}users`;

  // Jet may send ids as numbers or as strings: "1" and 1 are the same user.
  const findUser = (id: Id): User => {
    const user = users.find((u) => String(u.id) === String(id));
    if (!user) throw FieldErrors.form(`Unknown user id: ${id}`);
    return user;
  };

  const mailUsers = action
    .model(usersModel)
    .bulk()
    .label("Mail users")
    .icon("email")
    .input(z.object({ subject: z.string(), body: f.text().default(""), urgent: z.boolean().default(false) }))
    .handler((ctx) => {
      const selected = new Set(ctx.ids.map((id) => findUser(id).id));
      const count = ctx.inverseIds ? users.length - selected.size : ctx.ids.length;
      return result({ message: `Mailed ${count} users` });
    });

  const adjustWallet = action
    .model(usersModel)
    .forInstance()
    .label("Adjust wallet")
    .input(z.object({ amount: f.decimal() }))
    .handler((ctx, { amount }) => {
      if (!(Number(amount) > 0)) throw new FieldErrors({ amount: "must be positive" });
      if (ctx.id === undefined) throw FieldErrors.form("Select a user");
      const user = findUser(ctx.id);
      user.wallet += Math.round(Number(amount) * 100);
      return result({ html: `Wallet of <strong>${escapeHtml(user.name)}</strong> was updated` });
    });

  const exportUsers = action
    .model(usersModel)
    .label("Export users")
    .handler(() => {
      const lines = [["id", "name", "email"], ...users.map((u) => [String(u.id), u.name, u.email])];
      return file("users.csv", lines.map((line) => `${line.join(",")}\n`).join(""), "text/csv");
    });

  const cities = f.select.fromServer((ctx) => CITIES.get(String(ctx.form["country"] ?? "")) ?? []);
  const shipOrder = action
    .model(`${prefix}orders`)
    .forInstance()
    .label("Ship order")
    .input(z.object({ carrier: f.select(CARRIERS), country: f.select(COUNTRIES), city: cities }))
    .handler((ctx, { carrier, country, city }) => {
      if (ctx.id === undefined) throw FieldErrors.form("Select an order");
      const countryCities = CITIES.get(country) ?? [];
      if (!countryCities.some((option) => option.value === city)) {
        throw new FieldErrors({ city: `not a city of ${nameOf(COUNTRIES, country)}` });
      }
      // Named as the user saw them on the form ("DHL", "Rome"), not by their values.
      return result({
        message: `Order ${ctx.id} ships with ${nameOf(CARRIERS, carrier)} to ${nameOf(countryCities, city)}`,
      });
    });

  const refreshStats = action.label("Refresh stats").handler(() => true);

  return actionServer({
    name: `${prefix}shop`,
    actions: {
      [`${prefix}mail_users`]: mailUsers,
      [`${prefix}adjust_wallet`]: adjustWallet,
      [`${prefix}export_users`]: exportUsers,
      [`${prefix}ship_order`]: shipOrder,
      [`${prefix}refresh_stats`]: refreshStats,
    },
  });
}

// Run as the program (not when the tests import it): serve until SIGTERM or SIGINT.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      address: { type: "string", default: process.env["JETACTIONS_ADDRESS"] ?? "127.0.0.1:50053" },
      prefix: { type: "string", default: process.env["JETACTIONS_PREFIX"] ?? "" },
    },
  });
  await shop(values.prefix).run({ address: values.address });
}
