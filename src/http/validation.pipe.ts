import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApplicationError, FieldError } from './problem';

const PRIMITIVE_TYPES: ReadonlySet<unknown> = new Set([String, Number, Boolean, Object, Array]);

/**
 * A DTO of a hot route may offer a cheap check of its common shape. It must accept only bodies its
 * decorators accept (a property test holds it to that); anything else, refusals included, goes through
 * class-validator as usual, so every error message stays class-validator's. An accepted body reaches
 * the handler as the parsed JSON, not as a class instance.
 */
export interface FastAcceptingDto {
  fastAccepts(value: unknown): boolean;
}

function fastAccepts(metatype: unknown, value: unknown): boolean {
  const check = (metatype as Partial<FastAcceptingDto> | undefined)?.fastAccepts;
  return typeof check === 'function' && check(value);
}

/** How class-validator checks DTOs (exported so tests can hold a DTO's `fastAccepts` to it). */
export const CLASS_VALIDATION_OPTIONS = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  // Query strings arrive as strings; DTOs convert what they expect explicitly, nothing is guessed.
  transformOptions: { enableImplicitConversion: false },
} as const;

/**
 * The global pipe: DTOs are checked with class-validator, unknown fields are refused rather than
 * silently dropped, and every failure becomes a `validation_failed` problem listing each field.
 */
export class RequestValidationPipe extends ValidationPipe {
  constructor() {
    super({
      ...CLASS_VALIDATION_OPTIONS,
      exceptionFactory: (errors) => validationFailed(flattenValidationErrors(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // class-validator would report an array body as "property 0 should not exist"; say what is wrong.
    const isDto = typeof metadata.metatype === 'function' && !PRIMITIVE_TYPES.has(metadata.metatype);
    // No body (or an empty one, see json-body-parser.ts) is the empty object: a DTO whose fields are
    // all optional accepts it, and one with required fields names each missing field.
    if (metadata.type === 'body' && isDto && value === undefined) value = {};
    if (
      metadata.type === 'body' &&
      isDto &&
      (typeof value !== 'object' || value === null || Array.isArray(value))
    ) {
      throw validationFailed([{ field: 'body', message: 'The request body must be a JSON object' }]);
    }
    // class-validator costs 25–35 µs per batch record (a 1,000-record batch held the event loop
    // 25–50 ms); the precheck costs about 1 µs (docs/benchmarks.md).
    if (metadata.type === 'body' && fastAccepts(metadata.metatype, value)) return value;
    return super.transform(value, metadata);
  }
}

function validationFailed(errors: FieldError[]): ApplicationError {
  const detail =
    errors.length === 1
      ? `${errors[0].message}.`
      : `${errors.length} problems: ${errors.map((error) => error.message).join('; ')}.`;
  return new ApplicationError('validation_failed', detail, { errors });
}

export function flattenValidationErrors(errors: readonly ValidationError[], parentPath = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = joinPath(parentPath, error.property);
    const own = Object.entries(error.constraints ?? {}).map(([constraint, message]) => ({
      field: field || 'body',
      message: describe(constraint, message, error.property, field),
    }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

function describe(constraint: string, message: string, property: string, field: string): string {
  if (constraint === 'whitelistValidation') return `${field} is not an accepted field`;
  // class-validator starts its messages with the bare property name; name the full path instead.
  return field && message.startsWith(`${property} `) ? field + message.slice(property.length) : message;
}

function joinPath(parent: string, property: string): string {
  if (property === undefined || property === '') return parent;
  if (/^\d+$/.test(property)) return `${parent}[${property}]`;
  return parent ? `${parent}.${property}` : property;
}
