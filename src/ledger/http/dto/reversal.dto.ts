import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import {
  IsDisplayText,
  IsNonBlank,
  MAX_CREDITS,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_REFERENCE_LENGTH,
} from './validators';

export class ReverseUsageDto {
  @ApiProperty({
    maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
    description: 'per usage: a repeat with the same key and payload answers the first reversal',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_IDEMPOTENCY_KEY_LENGTH)
  @IsDisplayText()
  idempotencyKey!: string;

  @ApiProperty({ maxLength: MAX_REFERENCE_LENGTH, example: 'meter double-counted' })
  @IsString()
  @IsNonBlank()
  @IsDisplayText()
  @MaxLength(MAX_REFERENCE_LENGTH)
  reason!: string;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: MAX_CREDITS,
    description: 'credits to reverse; all not yet reversed when absent',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS)
  credits?: number;
}

export class UsageReversedDto {
  @ApiProperty() reversalId!: string;
  @ApiProperty() usageId!: string;
  @ApiProperty({ description: 'credits reversed by this reversal' }) credits!: number;
  @ApiProperty({ description: "the sub-account's credits left after it" }) remaining!: number;
}
