import type { FastifyInstance } from 'fastify';
import { ApplicationError } from './problem';

/**
 * The API speaks JSON only: every other content type is refused with 415 by Fastify, and a body
 * that does not parse becomes a `malformed_json` problem instead of Fastify's own error text.
 *
 * - An empty body is no body, whatever its content type: routes that take none accept it (SPEC §4),
 *   and a route that needs one answers as it does when none was sent (`validation_failed`).
 * - `__proto__` and `constructor.prototype` keys are never merged into objects (prototype
 *   poisoning): Fastify's parser refuses them. Such a body is valid JSON that the API refuses, so it
 *   is `validation_failed`, not `malformed_json`.
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
        done(null, undefined);
        return;
      }
      parseJson(request, text, (error, value) => {
        if (!error) done(null, value);
        else if (isValidJson(text)) done(prototypeKeyRefused(), undefined);
        else done(new ApplicationError('malformed_json', 'The request body is not valid JSON.'), undefined);
      });
    },
  );
}

/** Only on the error path: native JSON.parse makes `__proto__` an own key, so this is safe. */
function isValidJson(text: string): boolean {
  try {
    JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    return true;
  } catch {
    return false;
  }
}

function prototypeKeyRefused(): ApplicationError {
  const message = '"__proto__" and "constructor" holding "prototype" are not accepted as field names';
  return new ApplicationError('validation_failed', `${message}.`, {
    errors: [{ field: 'body', message }],
  });
}
