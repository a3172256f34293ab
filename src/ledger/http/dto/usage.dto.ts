import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { isInstant } from '../../../invoicing';
import {
  ID_DESCRIPTION,
  ID_PATTERN,
  IsDisplayText,
  IsInstant,
  MAX_CREDITS,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  METER_PATTERN,
} from './validators';
import { isDisplaySafe } from '../../domain/ledger.validation';

export const MAX_BATCH_RECORDS = 1_000;

/*
 * The usage routes are the hot path; their DTOs offer `fastAccepts` (see RequestValidationPipe): a
 * plain-JS check of exactly what the decorators below accept, conservative where they are subtle (a
 * null optional field, a string whose length class-validator counts differently), which then go to
 * class-validator. test/api/ledger/usage-fast-validation.spec.ts holds it to the decorators.
 */
const USAGE_FIELDS: ReadonlySet<string> = new Set([
  'idempotencyKey',
  'credits',
  'meter',
  'occurredAt',
  'attributes',
]);
const BATCH_RECORD_FIELDS: ReadonlySet<string> = new Set([...USAGE_FIELDS, 'subAccountId']);
/** Characters class-validator's length does not count; a key holding them is left to it. */
const UNCOUNTED = /[\uFE0E\uFE0F]/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function acceptsUsage(value: unknown, fields: ReadonlySet<string>): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false;
  for (const key in value) if (!fields.has(key) || value[key] === undefined) return false;
  const { idempotencyKey: key, credits, meter, occurredAt, attributes } = value;
  return (
    typeof key === 'string' &&
    key.length >= 1 &&
    key.length <= MAX_IDEMPOTENCY_KEY_LENGTH &&
    !UNCOUNTED.test(key) &&
    isDisplaySafe(key) &&
    typeof credits === 'number' &&
    Number.isInteger(credits) &&
    credits >= 0 &&
    credits <= MAX_CREDITS &&
    (!('meter' in value) || (typeof meter === 'string' && METER_PATTERN.test(meter))) &&
    (!('occurredAt' in value) || isInstant(occurredAt)) &&
    (!('attributes' in value) || isPlainObject(attributes))
  );
}

export class RecordUsageDto {
  static fastAccepts(value: unknown): boolean {
    return acceptsUsage(value, USAGE_FIELDS);
  }

  @ApiProperty({
    maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
    description: 'a repeat with the same key is recorded once (35 days)',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_IDEMPOTENCY_KEY_LENGTH)
  @IsDisplayText()
  idempotencyKey!: string;

  @ApiProperty({ minimum: 0, maximum: MAX_CREDITS })
  @IsInt()
  @Min(0)
  @Max(MAX_CREDITS)
  credits!: number;

  @ApiPropertyOptional({ example: 'image-optimisation', description: '"default" when absent' })
  @IsOptional()
  @IsString()
  @Matches(METER_PATTERN, { message: "meter must be 1–64 of A-Z a-z 0-9 '_' '.' ':' '/' '-'" })
  meter?: string;

  @ApiPropertyOptional({
    example: '2026-10-31T22:59:00Z',
    description: 'when it happened; now when absent; at most 5 minutes ahead and 35 days back',
  })
  @IsOptional()
  @IsInstant()
  occurredAt?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
    description: 'up to 32 string, number or boolean values',
  })
  @IsOptional()
  @IsObject()
  attributes?: Record<string, string | number | boolean>;
}

export class BatchUsageRecordDto extends RecordUsageDto {
  static override fastAccepts(value: unknown): boolean {
    return (
      acceptsUsage(value, BATCH_RECORD_FIELDS) &&
      typeof value.subAccountId === 'string' &&
      ID_PATTERN.test(value.subAccountId)
    );
  }

  @ApiProperty({ description: ID_DESCRIPTION })
  @IsString()
  @Matches(ID_PATTERN, { message: `subAccountId must be ${ID_DESCRIPTION}` })
  subAccountId!: string;
}

export class BatchUsageDto {
  static fastAccepts(value: unknown): boolean {
    if (!isPlainObject(value)) return false;
    for (const key in value) if (key !== 'records') return false;
    const records = value.records;
    return (
      Array.isArray(records) &&
      records.length >= 1 &&
      records.length <= MAX_BATCH_RECORDS &&
      records.every((record) => BatchUsageRecordDto.fastAccepts(record))
    );
  }

  @ApiProperty({ type: [BatchUsageRecordDto], maxItems: MAX_BATCH_RECORDS, minItems: 1 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_RECORDS)
  @ValidateNested({ each: true })
  @Type(() => BatchUsageRecordDto)
  records!: BatchUsageRecordDto[];
}
