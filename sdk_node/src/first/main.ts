import { server } from "./greeter.js";

// Listens on JETACTIONS_ADDRESS (default 127.0.0.1:50051) until SIGTERM or Ctrl-C.
await server.run();
