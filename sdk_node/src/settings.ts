// The action-server settings every SDK reads from the environment; explicit options win.
import { LEVELS, type Level, type LogFormat } from "./log.js";

/** Serve over TLS; with clientCaFile, require client certificates (mutual TLS). */
export interface TlsFiles {
  /** PEM certificate chain (JETACTIONS_TLS_CERT_FILE). */
  readonly certFile: string;
  /** PEM private key (JETACTIONS_TLS_KEY_FILE). */
  readonly keyFile: string;
  /** PEM CA that client certificates must chain to (JETACTIONS_TLS_CLIENT_CA_FILE). */
  readonly clientCaFile?: string;
}

/** How to serve; every field falls back to its environment variable, then its default. */
export interface ServeOptions {
  /** host:port to listen on; port 0 picks a free port (JETACTIONS_ADDRESS, "127.0.0.1:50051"). */
  readonly address?: string;
  /** Require it in the x-jetbridge-secret metadata of ActionService calls (JETBRIDGE_SECRET); "" means none. */
  readonly secret?: string;
  /** TLS files; undefined reads the JETACTIONS_TLS_* variables, null serves plaintext. */
  readonly tls?: TlsFiles | null;
  /** The limit on one message, sent or received (JETACTIONS_MAX_MESSAGE_BYTES, 16 MiB). */
  readonly maxMessageBytes?: number;
  /** Milliseconds calls in flight get when the server stops (JETACTIONS_GRACE in seconds, 10 s). */
  readonly graceMs?: number;
  /** JETACTIONS_LOG_FORMAT: "text" (default) or "json". */
  readonly logFormat?: LogFormat;
  /** JETACTIONS_LOG_LEVEL: debug (every call), info (default), warn, error. */
  readonly logLevel?: Level;
  /** Where log lines go; stderr by default. */
  readonly logWrite?: (line: string) => void;
  /** Serve Prometheus metrics on this port of the address's host (JETACTIONS_METRICS_PORT; 0 picks one); null: none. */
  readonly metricsPort?: number | null;
}

export type Settings = Required<Omit<ServeOptions, "tls" | "logWrite" | "metricsPort">> &
  Pick<ServeOptions, "logWrite"> & {
    readonly tls: TlsFiles | null;
    readonly metricsPort: number | null;
  };

export const DEFAULT_ADDRESS = "127.0.0.1:50051";
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_GRACE_MS = 10_000;

type Env = Readonly<Record<string, string | undefined>>;

/** The settings of a server start; throws a message naming the variable for a bad value. */
export function settingsOf(options: ServeOptions, env: Env = process.env): Settings {
  if (env["JETACTIONS_BRIDGE_SECRET"] !== undefined) {
    throw new Error("JETACTIONS_BRIDGE_SECRET is no longer read: name the shared secret JETBRIDGE_SECRET");
  }
  const secret = options.secret ?? env["JETBRIDGE_SECRET"];
  if (options.secret === undefined && secret === "") {
    throw new Error("JETBRIDGE_SECRET is set but empty: set the shared secret, or unset it to serve without one");
  }
  return {
    address: options.address ?? env["JETACTIONS_ADDRESS"] ?? DEFAULT_ADDRESS,
    secret: secret ?? "",
    tls: options.tls === undefined ? tlsOf(env) : options.tls,
    maxMessageBytes: options.maxMessageBytes ?? number(env, "JETACTIONS_MAX_MESSAGE_BYTES", 1) ?? DEFAULT_MAX_MESSAGE_BYTES,
    graceMs: options.graceMs ?? secondsToMs(number(env, "JETACTIONS_GRACE", 0)) ?? DEFAULT_GRACE_MS,
    logFormat: options.logFormat ?? oneOf(env, "JETACTIONS_LOG_FORMAT", ["text", "json"] as const) ?? "text",
    logLevel: options.logLevel ?? oneOf(env, "JETACTIONS_LOG_LEVEL", LEVELS) ?? "info",
    logWrite: options.logWrite,
    metricsPort: options.metricsPort === undefined ? port(env, "JETACTIONS_METRICS_PORT") : options.metricsPort,
  };
}

function tlsOf(env: Env): TlsFiles | null {
  const certFile = env["JETACTIONS_TLS_CERT_FILE"] || undefined;
  const keyFile = env["JETACTIONS_TLS_KEY_FILE"] || undefined;
  const clientCaFile = env["JETACTIONS_TLS_CLIENT_CA_FILE"] || undefined;
  if (!certFile && !keyFile && !clientCaFile) {
    return null;
  }
  if (!certFile || !keyFile) {
    throw new Error("TLS needs both JETACTIONS_TLS_CERT_FILE and JETACTIONS_TLS_KEY_FILE");
  }
  return clientCaFile ? { certFile, keyFile, clientCaFile } : { certFile, keyFile };
}

function number(env: Env, name: string, minimum: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") {
    return undefined;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < minimum) {
    throw new Error(`${name} must be a number of at least ${minimum}, not "${raw}"`);
  }
  return value;
}

function port(env: Env, name: string): number | null {
  const value = number(env, name, 0);
  if (value === undefined) {
    return null;
  }
  if (!Number.isInteger(value) || value > 65535) {
    throw new Error(`${name} must be a port number (0 picks one), not "${env[name]}"`);
  }
  return value;
}

function secondsToMs(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000;
}

function oneOf<const T extends string>(env: Env, name: string, choices: readonly T[]): T | undefined {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === "") {
    return undefined;
  }
  if (!(choices as readonly string[]).includes(raw)) {
    throw new Error(`${name} must be one of ${choices.join(", ")}, not "${env[name]}"`);
  }
  return raw as T;
}
