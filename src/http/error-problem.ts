import { HttpException } from '@nestjs/common';
import { ErrorType, isCommandError } from '@eventstore/db-client';
import { SubledgerError, type ErrorKind } from '../kernel/subledger-error';
import {
  ApplicationError,
  FieldError,
  isProblemCode,
  PROBLEMS,
  PROBLEM_TYPE_BASE,
  ProblemCode,
  ProblemDetails,
} from './problem';

/** A kind of refusal decides its status; the code only names it. */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

/** The generic code of a kind, for a SubledgerError whose own code has no row in PROBLEMS (a bug). */
const CODE_OF_KIND: Readonly<Record<ErrorKind, ProblemCode>> = {
  invalid: 'validation_failed',
  unauthenticated: 'unauthorized',
  forbidden: 'forbidden',
  not_found: 'not_found',
  conflict: 'conflict',
  unprocessable: 'unprocessable',
  unavailable: 'service_unavailable',
};

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
const STORE_DOWN_DETAIL = 'The event store did not answer; retry shortly.';
const UNEXPECTED_DETAIL = 'An unexpected error occurred; it has been logged.';

/** The request an error is answered for: its method, and its URL (the instance, query left out). */
export interface ProblemSite {
  readonly method: string;
  readonly url: string;
}

interface Answer {
  readonly code: ProblemCode;
  readonly detail: string;
  readonly status?: number;
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/**
 * The one mapping from any error to problem+json (RFC 9457): the global filter answers with it, and
 * the batch usage route writes each refused record's result with it, so a refusal reads the same,
 * code and detail, wherever it is answered. An error the code did not choose becomes a bare 500
 * that reveals nothing of the internals.
 */
export function toProblem(
  error: unknown,
  site: ProblemSite,
  extensions: Readonly<Record<string, unknown>> = {},
): ProblemDetails {
  const answer = answerOf(error, site);
  const { status, title } = PROBLEMS[answer.code];
  return {
    type: `${PROBLEM_TYPE_BASE}${answer.code}`,
    title,
    status: answer.status ?? status,
    detail: answer.detail,
    code: answer.code,
    instance: site.url.split('?')[0],
    ...withoutCoreMembers({ ...answer.extensions, ...extensions }),
  };
}

function answerOf(error: unknown, site: ProblemSite): Answer {
  if (error instanceof SubledgerError) {
    const known = isProblemCode(error.code);
    return {
      code: known ? error.code : CODE_OF_KIND[error.kind],
      status: STATUS_OF_KIND[error.kind],
      detail: error.detail,
      extensions: error.extensions,
    };
  }
  if (error instanceof ApplicationError) {
    return { code: error.code, detail: error.message, extensions: error.extensions };
  }
  if (error instanceof HttpException) return fromHttpException(error, site);
  if (error instanceof Error && isCommandError(error)) {
    if (EVENT_STORE_DOWN.has(error.type))
      return { code: 'event_store_unavailable', detail: STORE_DOWN_DETAIL };
    // The store is up and refused the append for its size: retrying cannot help (never a 503).
    if (error.type === ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED) {
      return {
        code: 'append_too_large',
        detail: `What the request would record is more than the event store takes in one append (${error.maxAppendSize} bytes).`,
      };
    }
    if (error.type === ErrorType.WRONG_EXPECTED_VERSION) {
      return { code: 'concurrency_conflict', detail: 'The data changed while the request ran; retry it.' };
    }
  }
  if (isRecord(error)) {
    if (error.code === GRPC_UNAVAILABLE && 'details' in error) {
      return { code: 'event_store_unavailable', detail: STORE_DOWN_DETAIL };
    }
    // An error of a library or a test that carries a code from the table is taken at its word.
    if (isProblemCode(error.code) && typeof error.message === 'string') {
      return { code: error.code, detail: error.message };
    }
  }
  return { code: 'internal_error', detail: UNEXPECTED_DETAIL };
}

function fromHttpException(exception: HttpException, site: ProblemSite): Answer {
  const status = exception.getStatus();
  const code = CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
  if (code === 'internal_error') return { code, detail: UNEXPECTED_DETAIL };
  // The router's own "Cannot GET /path", as opposed to a route's NotFoundException.
  if (code === 'not_found' && exception.message === `Cannot ${site.method} ${site.url}`) {
    return { code, detail: `No route ${site.method} ${site.url.split('?')[0]}.` };
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

const CORE_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance']);

function withoutCoreMembers(extensions: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(extensions).filter(([key]) => !CORE_MEMBERS.has(key)));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function sentence(message: string): string {
  return /[.!?]$/.test(message) ? message : `${message}.`;
}
