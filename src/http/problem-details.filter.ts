import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import { ErrorType, isCommandError } from '@eventstore/db-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from './logging.module';
import {
  ApplicationError,
  FieldError,
  isProblemCode,
  PROBLEM_CONTENT_TYPE,
  ProblemCode,
  problemDetails,
  ProblemDetails,
} from './problem';

const CODE_BY_STATUS: Readonly<Record<number, ProblemCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  501: 'not_implemented',
  503: 'service_unavailable',
};

/** Client errors of the event store that mean "cannot reach a usable server right now", not a bug. */
const EVENT_STORE_DOWN: ReadonlySet<ErrorType> = new Set([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.NOT_LEADER,
  ErrorType.CANCELLED,
]);
const GRPC_UNAVAILABLE = 14;

interface Answer {
  readonly code: ProblemCode;
  readonly detail: string;
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/**
 * The one place where errors become responses: every error, from a route, a guard, the body parser
 * or the router's "no such route", is answered as `application/problem+json`. Anything unexpected
 * is logged with its stack and answered as a bare 500 that reveals nothing of the internals.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(@Inject(ROOT_LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const answer = this.answer(exception, request);
    const problem = problemDetails(answer.code, answer.detail, request.url.split('?')[0], {
      ...answer.extensions,
      requestId: request.id,
    });

    // An ApplicationError is an answer the code chose; anything else reaching 5xx needs a look.
    if (problem.status >= 500 && !(exception instanceof ApplicationError)) this.log(exception, problem);
    if (reply.sent) return;
    if (problem.code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
    if (problem.status === 503) reply.header('retry-after', '1');
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }

  private answer(exception: unknown, request: FastifyRequest): Answer {
    if (exception instanceof ApplicationError) {
      return { code: exception.code, detail: exception.message, extensions: exception.extensions };
    }
    if (exception instanceof HttpException) return this.fromHttpException(exception, request);
    if (exception instanceof Error && isCommandError(exception)) {
      if (EVENT_STORE_DOWN.has(exception.type)) {
        return { code: 'event_store_unavailable', detail: 'The event store did not answer; retry shortly.' };
      }
      if (exception.type === ErrorType.WRONG_EXPECTED_VERSION) {
        return { code: 'concurrency_conflict', detail: 'The data changed while the request ran; retry it.' };
      }
    }
    if (isRecord(exception)) {
      if (exception.code === GRPC_UNAVAILABLE && 'details' in exception) {
        return { code: 'event_store_unavailable', detail: 'The event store did not answer; retry shortly.' };
      }
      // Domain errors stay free of HTTP: a stable code from the table is all they need.
      if (isProblemCode(exception.code) && typeof exception.message === 'string') {
        return { code: exception.code, detail: exception.message };
      }
    }
    return { code: 'internal_error', detail: 'An unexpected error occurred; it has been logged.' };
  }

  private fromHttpException(exception: HttpException, request: FastifyRequest): Answer {
    const status = exception.getStatus();
    const code = CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
    if (code === 'internal_error') {
      return { code, detail: 'An unexpected error occurred; it has been logged.' };
    }
    // The router's own "Cannot GET /path", as opposed to a route's NotFoundException.
    if (code === 'not_found' && exception.message === `Cannot ${request.method} ${request.url}`) {
      return { code, detail: `No route ${request.method} ${request.url.split('?')[0]}.` };
    }
    const response = exception.getResponse();
    const messages = isRecord(response) ? response.message : undefined;
    if (Array.isArray(messages)) {
      // A ValidationPipe built elsewhere without our exception factory still gets a useful answer.
      const errors: FieldError[] = messages.map((message) => ({ field: '', message: String(message) }));
      return {
        code: status === 400 ? 'validation_failed' : code,
        detail: errors.map((e) => e.message).join('; '),
        extensions: { errors },
      };
    }
    return { code, detail: sentence(exception.message) };
  }

  private log(exception: unknown, problem: ProblemDetails): void {
    if (problem.code === 'event_store_unavailable') {
      this.logger.warn({ err: exception, requestId: problem.requestId }, 'event store unavailable');
      return;
    }
    this.logger.error(
      { err: exception, requestId: problem.requestId },
      `unhandled error on ${problem.instance}`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function sentence(message: string): string {
  return /[.!?]$/.test(message) ? message : `${message}.`;
}
