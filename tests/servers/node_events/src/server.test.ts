// node --test dist/: the ticket actions through the SDK's testing helper.
import assert from "node:assert/strict";
import { test } from "node:test";

import { tester } from "jetactions/testing";

import { events } from "./server.js";

test("book_tickets sells seats until none are left", async () => {
  const t = tester(events());
  const booked = await t.execute("book_tickets", { model: "events", ids: [1], inputs: { attendee: "Ada", seats: "2" } });
  assert.deepEqual(booked, { kind: "result", value: true, message: "Booked 2 for Ada", extra: { seats_left: 1 } });
  const refused = await t.execute("book_tickets", { model: "events", ids: ["1"], inputs: { attendee: "Bo", seats: 2 } });
  assert.deepEqual(refused, { kind: "errors", fields: { seats: ["only 1 left"] }, nonFieldErrors: [] });
  const exported = await t.execute("export_attendees", { model: "events" });
  assert.equal(exported.kind === "file" && exported.text, "event,attendee,tier,seats\n1,Ada,standard,2\n");
});

test("find_sessions filters by city and venue; venues come from the server by city", async () => {
  const t = tester(events());
  const found = await t.execute("find_sessions", { inputs: { city: "berlin", day: "2026-12-01", topics: ["ts"] } });
  assert.deepEqual(found, { kind: "result", value: ["TypeScript Summit"], message: "1 sessions on 2026-12-01", extra: {} });
  assert.deepEqual(await t.fieldOptions("", "venue", { city: "lisbon" }), [{ value: "altice", name: "Altice Arena", color: "orange" }]);
  const bad = await t.execute("find_sessions", { inputs: { city: "paris", day: "tomorrow", topics: "ts" } });
  assert.equal(bad.kind, "errors");
  assert.deepEqual(bad.kind === "errors" && Object.keys(bad.fields), ["city", "day", "topics"]);
});
