import type { FastifyInstance } from 'fastify';
import { ApplicationError } from './problem';

/**
 * The API speaks JSON only: every other content type is refused with 415 by Fastify, and a body
 * that does not parse becomes a `malformed_json` problem instead of Fastify's own error text.
 * `__proto__` and `constructor.prototype` keys are refused, never merged into objects.
 */
export function useJsonBodyOnly(fastify: FastifyInstance, bodyLimitBytes: number): void {
  fastify.removeAllContentTypeParsers();
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: bodyLimitBytes },
    (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.length === 0) {
        done(
          new ApplicationError(
            'malformed_json',
            'The body is empty but the content type is application/json.',
          ),
          undefined,
        );
        return;
      }
      parseJson(request, text, (error, value) => {
        if (error)
          done(new ApplicationError('malformed_json', 'The request body is not valid JSON.'), undefined);
        else done(null, value);
      });
    },
  );
}
