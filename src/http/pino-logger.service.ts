import { LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';

const NEST_LEVELS = {
  log: 'info',
  error: 'error',
  warn: 'warn',
  debug: 'debug',
  verbose: 'trace',
  fatal: 'fatal',
} as const satisfies Record<string, Level>;

/**
 * Nest's logger interface over pino, so Nest's own lines and `new Logger(context)` in the code come
 * out as the same JSON. Follows Nest's calling convention: the last string argument is the context.
 */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write(NEST_LEVELS.log, message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write(NEST_LEVELS.error, message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write(NEST_LEVELS.warn, message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write(NEST_LEVELS.debug, message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write(NEST_LEVELS.verbose, message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write(NEST_LEVELS.fatal, message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    let rest = params;
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') {
      fields.context = rest[rest.length - 1];
      rest = rest.slice(0, -1);
    }
    // Nest's own exception handlers call error(message, stack, context).
    if (
      typeof message === 'string' &&
      rest.length === 1 &&
      typeof rest[0] === 'string' &&
      /\n\s*at /.test(rest[0])
    ) {
      this.logger[level]({ ...fields, err: { message, stack: rest[0] } }, message);
      return;
    }
    const text = rest.find((param): param is string => typeof param === 'string');
    if (message instanceof Error) {
      this.logger[level]({ ...fields, err: message }, text ?? message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ ...fields, ...message }, text);
    } else {
      this.logger[level](fields, String(message));
    }
  }
}
