/**
 * A tiny JSON-lines logger: one object per line on stdout (CloudWatch and `npm start` both read lines). The sink is
 * injectable so tests can read what was logged. Callers never pass headers or tokens; there is no redaction here.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const stdoutSink = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function createLogger(
  level: LogLevel,
  sink: (line: string) => void = stdoutSink,
  now: () => Date = () => new Date(),
): Logger {
  const make = (bound: LogFields): Logger => {
    const write = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
      if (rank[lineLevel] < rank[level]) return;
      const entry = { level: lineLevel, time: now().toISOString(), msg, ...bound, ...fields };
      sink(JSON.stringify(entry, replacer));
    };
    return {
      debug: (msg, fields) => write('debug', msg, fields),
      info: (msg, fields) => write('info', msg, fields),
      warn: (msg, fields) => write('warn', msg, fields),
      error: (msg, fields) => write('error', msg, fields),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make({});
}

/** Errors serialise to `{}` by default; keep what helps an operator. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return serializeError(value);
  return value;
}

export function serializeError(error: unknown): LogFields {
  if (!(error instanceof Error)) return { message: String(error) };
  const fields: LogFields = { name: error.name, message: error.message };
  if (error.stack) fields['stack'] = error.stack;
  if (error.cause !== undefined) fields['cause'] = serializeError(error.cause);
  return fields;
}

/** Discards everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger('error', () => {});

/**
 * Holds every line (its children's too) until `flush()` writes them to `log` in order; never flushed, they are
 * dropped. For a pass that may be thrown away and run again (reconcile/status-only.ts).
 */
export function heldLogger(log: Logger): { log: Logger; flush(): void } {
  const held: (() => void)[] = [];
  const make = (target: Logger): Logger => ({
    debug: (msg, fields) => void held.push(() => target.debug(msg, fields)),
    info: (msg, fields) => void held.push(() => target.info(msg, fields)),
    warn: (msg, fields) => void held.push(() => target.warn(msg, fields)),
    error: (msg, fields) => void held.push(() => target.error(msg, fields)),
    child: (fields) => make(target.child(fields)),
  });
  return {
    log: make(log),
    flush() {
      for (const line of held.splice(0)) line();
    },
  };
}
