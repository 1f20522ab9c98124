// A small action server written only for the tests, in another domain than the shop: event
// tickets. The generic conformance mode checks it from its ListActions alone; book_tickets
// has a side effect (it sells seats).
//
//   node dist/server.js [--address 127.0.0.1:50061]
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { action, actionServer, f, FieldErrors, file, result, z, type Id } from "jetactions";

interface Event {
  readonly id: number;
  readonly title: string;
  readonly city: string;
  readonly venue: string;
  seatsLeft: number;
}

const CITIES = [
  { value: "berlin", name: "Berlin" },
  { value: "lisbon", name: "Lisbon" },
] as const;
const VENUES = new Map([
  ["berlin", [{ value: "tempodrom", name: "Tempodrom" }, { value: "uber", name: "Uber Eats Music Hall" }]],
  ["lisbon", [{ value: "altice", name: "Altice Arena", color: "orange" }]],
]);
const TIERS = [
  { value: "standard", name: "Standard" },
  { value: "vip", name: "VIP", color: "gold" },
] as const;

export function events() {
  const catalogue: Event[] = [
    { id: 1, title: "TypeScript Summit", city: "berlin", venue: "tempodrom", seatsLeft: 3 },
    { id: 2, title: "gRPC Day", city: "lisbon", venue: "altice", seatsLeft: 100 },
  ];
  const sold: { event: number; attendee: string; tier: string; seats: number }[] = [];
  const findEvent = (id: Id | undefined): Event => {
    const event = catalogue.find((e) => String(e.id) === String(id));
    if (!event) throw FieldErrors.form(`Unknown event: ${id ?? "none selected"}`);
    return event;
  };

  const bookTickets = action
    .model("events")
    .forInstance()
    .label("Book tickets")
    .icon("ticket")
    .description("Sells seats of the selected event")
    .input(
      z.object({
        attendee: z.string().min(1).meta({ title: "Attendee name" }),
        email: z.email().optional(),
        seats: z.number().int().min(1).max(10).default(1),
        tier: f.select(TIERS).default("standard"),
      }),
    )
    .handler((ctx, input) => {
      const event = findEvent(ctx.id);
      if (input.seats > event.seatsLeft) {
        throw new FieldErrors({ seats: `only ${event.seatsLeft} left` });
      }
      event.seatsLeft -= input.seats;
      sold.push({ event: event.id, attendee: input.attendee, tier: input.tier, seats: input.seats });
      return result({ message: `Booked ${input.seats} for ${input.attendee}`, extra: { seats_left: event.seatsLeft } });
    });

  const venues = f.select.fromServer((ctx) => VENUES.get(String(ctx.form["city"] ?? "")) ?? []);
  const findSessions = action
    .label("Find sessions")
    .idempotent()
    .timeout(5000)
    .input(
      z.object({
        city: f.select(CITIES),
        venue: venues.optional(),
        day: f.date(),
        from: f.time().optional(),
        topics: f.json(z.array(z.string())).default([]),
      }),
    )
    .handler((_ctx, input) => {
      const found = catalogue.filter((e) => e.city === input.city && (!input.venue || e.venue === input.venue));
      return result({ value: found.map((e) => e.title), message: `${found.length} sessions on ${input.day}` });
    });

  const refund = action
    .model("tickets")
    .bulk()
    .label("Refund tickets")
    .input(
      z.object({
        reason: f.text(),
        amount: f.decimal(),
        issued: f.datetime().optional(),
        notify: z.boolean().default(true),
        approver: f.foreignKey("staff").optional(),
        ratio: z.number().min(0).max(1).default(1),
      }),
    )
    .handler((ctx, input) => {
      const count = ctx.inverseIds ? `all but ${ctx.ids.length}` : String(ctx.ids.length);
      const html = `Refunding <b>${count}</b> tickets, ${input.amount} each${input.notify ? ", attendees notified" : ""}`;
      return result({ html });
    });

  const exportAttendees = action
    .model("events")
    .label("Export attendees")
    .handler(() => {
      const lines = ["event,attendee,tier,seats", ...sold.map((s) => `${s.event},${s.attendee},${s.tier},${s.seats}`)];
      return file("attendees.csv", `${lines.join("\n")}\n`, "text/csv");
    });

  return actionServer({
    name: "node_events",
    actions: {
      book_tickets: bookTickets,
      find_sessions: findSessions,
      refund_tickets: refund,
      export_attendees: exportAttendees,
    },
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { address: { type: "string", default: process.env["JETACTIONS_ADDRESS"] ?? "127.0.0.1:50061" } },
  });
  await events().run({ address: values.address });
}
