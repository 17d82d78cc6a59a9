/**
 * Levelled logging, per service, to stderr or a file.
 *
 * Configuration comes from the environment so that child services inherit it:
 *   TSEMU_LOG       "warn" (default), or a default then per-service levels:
 *                   "info,block=debug,cpu=trace"
 *   TSEMU_LOG_FILE  append to this file instead of stderr
 * `configureLogging` sets both for this process and for children started after it.
 */
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

export const LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type Level = (typeof LEVELS)[number];

interface Config {
  defaultLevel: number;
  perService: Map<string, number>;
  file: string | undefined;
}

let config: Config | undefined;

function levelIndex(name: string): number {
  const i = LEVELS.indexOf(name as Level);
  if (i < 0) throw new Error(`unknown log level '${name}' (one of ${LEVELS.join(', ')})`);
  return i;
}

export function parseLogSpec(spec: string): { defaultLevel: number; perService: Map<string, number> } {
  let defaultLevel = levelIndex('warn');
  const perService = new Map<string, number>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) defaultLevel = levelIndex(part);
    else if (eq === 0) throw new Error(`log spec '${part}' names no service (expected SERVICE=LEVEL)`);
    else perService.set(part.slice(0, eq).trim(), levelIndex(part.slice(eq + 1).trim()));
  }
  return { defaultLevel, perService };
}

function current(): Config {
  if (!config) {
    let parsed: ReturnType<typeof parseLogSpec>;
    try {
      parsed = parseLogSpec(process.env.TSEMU_LOG ?? '');
    } catch (e) {
      // A log call must never throw: say so once and keep the default.
      process.stderr.write(`tsemu: ignoring TSEMU_LOG: ${(e as Error).message}\n`);
      parsed = parseLogSpec('');
    }
    config = { ...parsed, file: process.env.TSEMU_LOG_FILE || undefined };
  }
  return config;
}

/** Sets the levels and destination here and, through the environment, in later children. */
export function configureLogging(spec: string | undefined, file?: string): void {
  if (spec !== undefined) {
    parseLogSpec(spec); // validate before changing anything
    process.env.TSEMU_LOG = spec;
  } else if (process.env.TSEMU_LOG) {
    try {
      parseLogSpec(process.env.TSEMU_LOG);
    } catch (e) {
      throw new Error(`TSEMU_LOG: ${(e as Error).message}`);
    }
  }
  if (file !== undefined) process.env.TSEMU_LOG_FILE = file;
  config = undefined;
}

export class Logger {
  constructor(readonly service: string) {}

  enabled(level: Level): boolean {
    const c = current();
    return levelIndex(level) <= (c.perService.get(this.service) ?? c.defaultLevel);
  }

  error(msg: string, ...extra: unknown[]): void { this.log('error', msg, extra); }
  warn(msg: string, ...extra: unknown[]): void { this.log('warn', msg, extra); }
  info(msg: string, ...extra: unknown[]): void { this.log('info', msg, extra); }
  debug(msg: string, ...extra: unknown[]): void { this.log('debug', msg, extra); }
  trace(msg: string, ...extra: unknown[]): void { this.log('trace', msg, extra); }

  child(sub: string): Logger {
    return new Logger(`${this.service}.${sub}`);
  }

  private log(level: Level, msg: string, extra: unknown[]): void {
    if (!this.enabled(level)) return;
    const tail = extra.map((e) => (e instanceof Error ? (e.stack ?? e.message) : typeof e === 'string' ? e : JSON.stringify(e)));
    const where = threadId === 0 ? `${process.pid}` : `${process.pid}/${threadId}`;
    const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${this.service}[${where}] ${[msg, ...tail].join(' ')}\n`;
    const file = current().file;
    if (file) {
      try {
        appendFileSync(file, line);
        return;
      } catch {
        // fall through to stderr: a log line is never lost silently
      }
    }
    process.stderr.write(line);
  }
}

const loggers = new Map<string, Logger>();

export function logger(service: string): Logger {
  let l = loggers.get(service);
  if (!l) loggers.set(service, (l = new Logger(service)));
  return l;
}
