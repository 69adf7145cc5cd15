import pino, { Logger } from 'pino';
import { LoggerService } from '@nestjs/common';

/**
 * Paths pino blanks before a line is written. Nothing should log headers or keys in the first
 * place; this is the second line of defence.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  '*.apikey',
  '*.apiKey',
  '*.secret',
  '*.password',
  '*.token',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'sluice' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Batched writes: one syscall per 4 KiB of log instead of one per line (the access log writes
    // a line per proxied request). main.ts flushes on shutdown.
    destination ?? pino.destination({ sync: false, minLength: 4096 }),
  );
  // ...and at least once a second, so a quiet server's lines still show up promptly.
  if (!destination) setInterval(() => logger.flush(), 1000).unref();
  return logger;
}

/** Routes Nest's own log calls into pino so every line is structured JSON. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    // Nest's own info chatter (module and route listings) is debug detail for an operator.
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
  fatal(message: unknown, context?: string) {
    this.logger.fatal({ context }, String(message));
  }
}
