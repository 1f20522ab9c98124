// Declaring an action: an immutable builder that reads like the declaration, ending in the
// handler, whose input is typed from the schema.
//
//   action.model("users").forInstance().label("Adjust wallet")
//     .input(z.object({ amount: f.decimal() }))
//     .handler(async (ctx, input) => ...)
import { z } from "zod";

import type { ActionContext } from "./context.js";
import { fieldOf, type Field } from "./fields.js";
import type { Outcome } from "./results.js";

/** Runs an action with its validated input. */
export type Handler<I> = (ctx: ActionContext, input: I) => Outcome | Promise<Outcome>;

/** Where an action appears in Jet Admin. */
export type Placement =
  | { readonly kind: "common" }
  | { readonly kind: "model"; readonly models: readonly string[]; readonly forInstance: boolean; readonly bulk: boolean };

/** What a builder has collected so far. */
export interface ActionOptions {
  readonly placement: Placement;
  readonly label: string;
  readonly icon: string;
  readonly description: string;
  /** Upper bound on one run, in milliseconds; 0 means the bridge's default. */
  readonly timeoutMs: number;
  readonly idempotent: boolean;
}

/** A declared action, ready to be served under a name (see actionServer). */
export interface ActionDefinition {
  readonly options: ActionOptions;
  /** The form inputs, in the shape's order. */
  readonly fields: readonly Field[];
  /** The whole input object's schema. */
  readonly schema: z.ZodType;
  /** Runs the handler with the values check() produced. */
  readonly run: (ctx: ActionContext, values: Record<string, unknown>) => Outcome | Promise<Outcome>;
}

// An input object: its shape names the form's inputs.
type InputSchema = z.ZodObject;

export class ActionBuilder<S extends InputSchema | undefined = undefined> {
  readonly #options: ActionOptions;
  readonly #schema: S;

  constructor(options: ActionOptions, schema: S) {
    this.#options = options;
    this.#schema = schema;
  }

  #with(change: Partial<ActionOptions>): ActionBuilder<S> {
    return new ActionBuilder({ ...this.#options, ...change }, this.#schema);
  }

  /** Places the action on one or more collections (a collection action until forInstance()). */
  model(...models: [string, ...string[]]): ActionBuilder<S> {
    return this.#with({ placement: { kind: "model", models, forInstance: false, bulk: false } });
  }

  /** The action runs on selected records and receives their ids (ctx.ids, ctx.id). */
  forInstance(): ActionBuilder<S> {
    return this.#with({ placement: { ...this.#model("forInstance()"), forInstance: true } });
  }

  /** One call carries every selected id; otherwise Jet calls once per record. */
  bulk(): ActionBuilder<S> {
    return this.#with({ placement: { ...this.#model("bulk()"), forInstance: true, bulk: true } });
  }

  label(label: string): ActionBuilder<S> {
    return this.#with({ label });
  }

  icon(icon: string): ActionBuilder<S> {
    return this.#with({ icon });
  }

  description(description: string): ActionBuilder<S> {
    return this.#with({ description });
  }

  /** Upper bound on one run; the bridge uses the smallest of this and its own limits. */
  timeout(milliseconds: number): ActionBuilder<S> {
    if (!(milliseconds > 0)) {
      throw new RangeError(`timeout must be a positive number of milliseconds, not ${milliseconds}`);
    }
    return this.#with({ timeoutMs: milliseconds });
  }

  /** Running it twice has the effect of running it once, so the bridge may retry it. */
  idempotent(idempotent = true): ActionBuilder<S> {
    return this.#with({ idempotent });
  }

  /** The form: each key of the object is an input, typed and checked by its schema. */
  input<T extends InputSchema>(schema: T): ActionBuilder<T> {
    return new ActionBuilder(this.#options, schema);
  }

  /** Ends the declaration with what runs; `input` is the schema's output type. */
  handler(handler: Handler<S extends InputSchema ? z.output<S> : Record<never, never>>): ActionDefinition {
    const shape = (this.#schema?.shape ?? {}) as Record<string, z.ZodType>;
    const fields = Object.entries(shape).map(([name, schema]) => fieldOf(name, schema));
    type Input = S extends InputSchema ? z.output<S> : Record<never, never>;
    const schema = this.#schema ?? z.object({});
    return { options: this.#options, fields, schema, run: (ctx, values) => handler(ctx, values as Input) };
  }

  #model(method: string): Placement & { kind: "model" } {
    const placement = this.#options.placement;
    if (placement.kind !== "model") {
      throw new TypeError(`${method} needs model(...) first: a common action has no records`);
    }
    return placement;
  }
}

/**
 * The start of every action declaration. Without model(...) the action is a common one, not
 * tied to any collection.
 */
export const action: ActionBuilder = new ActionBuilder(
  { placement: { kind: "common" }, label: "", icon: "", description: "", timeoutMs: 0, idempotent: false },
  undefined,
);
