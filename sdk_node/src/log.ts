// One log line per event, as text (default) or JSON (JETACTIONS_LOG_FORMAT=json), on stderr.

export const LEVELS = ["debug", "info", "warn", "error"] as const;
export type Level = (typeof LEVELS)[number];
export type LogFormat = "text" | "json";
/** Extra facts on a line (request_id, action, ...). */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  log(level: Level, message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /** Who logs: the server's name. */
  readonly name: string;
  readonly format?: LogFormat;
  /** Lines below this level are dropped. */
  readonly level?: Level;
  /** Where lines go; stderr by default. */
  readonly write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  return {
    log(level, message, fields = {}) {
      if (LEVELS.indexOf(level) < threshold) {
        return;
      }
      const time = new Date().toISOString();
      const defined = Object.entries(fields).filter(([, value]) => value !== undefined);
      if (options.format === "json") {
        const line = { time, level, logger: "jetactions", server: options.name, msg: message, ...Object.fromEntries(defined) };
        write(`${JSON.stringify(line)}\n`);
      } else {
        const extra = defined.map(([key, value]) => ` ${key}=${typeof value === "string" && /[\s"=]/.test(value) ? JSON.stringify(value) : String(value)}`);
        write(`${time} ${level.toUpperCase()} jetactions ${options.name}: ${message}${extra.join("")}\n`);
      }
    },
  };
}

/** Drops every line: for tests. */
export const silent: Logger = { log() {} };
