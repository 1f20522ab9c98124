import { action, actionServer, result, z } from "jetactions";

const greet = action
  .label("Greet")
  .input(z.object({ name: z.string(), times: z.number().int().min(1).default(1) }))
  .handler((ctx, input) => result({ message: `Hello, ${input.name}! `.repeat(input.times).trim() }));

export const server = actionServer({ name: "greeter", actions: { greet } });
