import type { FastifyReply, FastifyRequest } from 'fastify';
import { toProblem } from './error-problem';
import { ApplicationError, PROBLEM_CONTENT_TYPE, type ProblemCode } from './problem';

/**
 * What Fastify's router refuses before any route, hook or Nest filter runs: a URL that does not
 * decode (`%zz`) and a path segment longer than the router accepts. Fastify would answer those with
 * its own `application/json` body; this keeps them problem+json like every other error. A too-long
 * id is a 404: no id can be that long, so, as with any impossible id (docs/auth.md), it exists for no
 * one.
 */
export function answerFrameworkError(
  error: Error & { code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const [code, detail]: [ProblemCode, string] =
    error.code === 'FST_ERR_BAD_URL'
      ? ['bad_request', 'The URL does not decode; check its percent-encoding.']
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? ['not_found', 'No such resource: a part of the path is longer than any id.']
        : ['internal_error', 'An unexpected error occurred.'];
  const site = { method: request.method, url: request.url.split('?')[0].slice(0, 200) };
  const problem = toProblem(new ApplicationError(code, detail), site, { requestId: request.id });
  void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}
