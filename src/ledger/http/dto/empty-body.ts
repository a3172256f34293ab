import { ApplicationError } from '../../../http/problem';

/**
 * For routes that take no fields: no body, or `{}`. Anything else is refused like an unknown field
 * would be on any other route, so a caller sending the wrong route a body learns it at once.
 */
export function requireEmptyBody(body: unknown): void {
  if (body === undefined) return;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const fields = Object.keys(body);
    if (fields.length === 0) return;
    throw new ApplicationError('validation_failed', `${fields[0]} is not an accepted field.`, {
      errors: fields.map((field) => ({ field, message: `${field} is not an accepted field` })),
    });
  }
  throw new ApplicationError('validation_failed', 'The request body must be a JSON object, or absent.', {
    errors: [{ field: 'body', message: 'The request body must be a JSON object, or absent' }],
  });
}
