import { ArgumentsHost, Catch, ExceptionFilter, Inject } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../observability/logging.module';
import { toProblem } from './error-problem';
import { ApplicationError, PROBLEM_CONTENT_TYPE, ProblemDetails } from './problem';

/**
 * Every error, from a route, a guard, the body parser or the router's "no such route", is answered
 * as `application/problem+json` by the one mapper, `toProblem`. Anything unexpected is logged with
 * its stack and answered as a bare 500 that reveals nothing of the internals.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(@Inject(ROOT_LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblem(exception, request, { requestId: request.id });

    // An ApplicationError is an answer the code chose; anything else reaching 5xx needs a look.
    if (problem.status >= 500 && !(exception instanceof ApplicationError)) this.log(exception, problem);
    if (reply.sent) return;
    if (problem.code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
    if (problem.status === 503) reply.header('retry-after', '1');
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
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
