import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApplicationError, FieldError } from './problem';

/**
 * The global pipe: DTOs are checked with class-validator, unknown fields are refused rather than
 * silently dropped, and every failure becomes a `validation_failed` problem listing each field.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    // Whole numbers and booleans in query strings arrive as strings; DTOs convert them explicitly.
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => {
      const fieldErrors = flattenValidationErrors(errors);
      const detail =
        fieldErrors.length === 1
          ? fieldErrors[0].message
          : `${fieldErrors.length} problems: ${fieldErrors.map((error) => error.message).join('; ')}`;
      return new ApplicationError('validation_failed', detail, { errors: fieldErrors });
    },
  });
}

export function flattenValidationErrors(errors: readonly ValidationError[], parentPath = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = joinPath(parentPath, error.property);
    const own = Object.values(error.constraints ?? {}).map((message) => ({
      field: field || 'body',
      // class-validator starts its messages with the bare property name; name the full path instead.
      message:
        field && message.startsWith(`${error.property} `)
          ? field + message.slice(error.property.length)
          : message,
    }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

function joinPath(parent: string, property: string): string {
  if (property === undefined || property === '') return parent;
  if (/^\d+$/.test(property)) return `${parent}[${property}]`;
  return parent ? `${parent}.${property}` : property;
}
