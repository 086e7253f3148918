import type { LoggerService } from '@nestjs/common';

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Keys whose values never reach a log line, wherever they appear in a logged object. Logging a secret is a
 * defect; this is the net under it, not the plan.
 */
const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|otp|code$/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)]),
  );
}

/** Structured JSON lines on stdout (one object a line), for Nest and for our own code. */
export class JsonLogger implements LoggerService {
  constructor(
    private readonly service: string,
    private readonly level: Level = 'info',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {}

  private emit(level: Level, message: unknown, context?: unknown, extra?: Record<string, unknown>) {
    if (ORDER[level] < ORDER[this.level]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, service: this.service };
    if (typeof context === 'string') entry.context = context;
    if (typeof message === 'string') entry.msg = message;
    else entry.data = redact(message);
    if (extra) Object.assign(entry, redact(extra) as object);
    this.write(JSON.stringify(entry));
  }

  log(message: unknown, context?: string) {
    this.emit('info', message, context);
  }
  info(message: string, extra?: Record<string, unknown>) {
    this.emit('info', message, undefined, extra);
  }
  warn(message: unknown, context?: string) {
    this.emit('warn', message, context);
  }
  error(message: unknown, traceOrContext?: string, context?: string) {
    this.emit('error', message, context ?? traceOrContext);
  }
  debug(message: unknown, context?: string) {
    this.emit('debug', message, context);
  }
  verbose(message: unknown, context?: string) {
    this.emit('debug', message, context);
  }
  /** An event for our own code: a message plus structured fields (redacted). */
  event(level: Level, message: string, fields: Record<string, unknown>) {
    this.emit(level, message, undefined, fields);
  }
}
