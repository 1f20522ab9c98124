// grpc.health.v1, which Connect does not ship: generated from proto_vendor/ by scripts/generate.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";

import {
  type Health,
  type HealthCheckRequest,
  HealthCheckResponse_ServingStatus as Status,
} from "./gen/grpc/health/v1/health_pb.js";

export { Status };

/**
 * The health service: a status per service name ("" is the whole server). After shutdown()
 * every status is NOT_SERVING for good, and Watch streams end once they have said so.
 */
export class HealthService implements ServiceImpl<typeof Health> {
  readonly #statuses = new Map<string, Status>();
  readonly #waiters = new Set<() => void>();
  #stopped = false;

  constructor(services: Iterable<string>) {
    for (const service of ["", ...services]) {
      this.#statuses.set(service, Status.SERVING);
    }
  }

  /** Sets every status to NOT_SERVING, ignores later changes and ends Watch streams. */
  shutdown(): void {
    for (const service of this.#statuses.keys()) {
      this.#statuses.set(service, Status.NOT_SERVING);
    }
    this.#stopped = true;
    this.#notify();
  }

  set(service: string, status: Status): void {
    if (!this.#stopped) {
      this.#statuses.set(service, status);
      this.#notify();
    }
  }

  check(request: HealthCheckRequest) {
    const status = this.#statuses.get(request.service);
    if (status === undefined) {
      throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
    }
    return { status };
  }

  async *watch(request: HealthCheckRequest, context: HandlerContext) {
    let last: Status | undefined;
    for (;;) {
      const status = this.#statuses.get(request.service) ?? Status.SERVICE_UNKNOWN;
      if (status !== last) {
        yield { status };
        last = status;
      }
      // Ending with OK tells clients to retry with backoff, as the health protocol says.
      if (this.#stopped || context.signal.aborted) {
        return;
      }
      await this.#changed(context.signal);
    }
  }

  list() {
    return { statuses: Object.fromEntries([...this.#statuses].map(([name, status]) => [name, { status }])) };
  }

  #notify(): void {
    for (const wake of this.#waiters) {
      wake();
    }
    this.#waiters.clear();
  }

  // Resolves on the next status change, or when the call ends.
  #changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#waiters.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      this.#waiters.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }
}
