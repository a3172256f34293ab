import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import {
  CURRENCIES,
  ID_DESCRIPTION,
  ID_PATTERN,
  IsCreditPrice,
  IsCurrencyCode,
  IsDisplayText,
  IsNonBlank,
  MAX_CREDITS,
  MAX_NAME_LENGTH,
  MAX_REFERENCE_LENGTH,
} from './validators';

export class OpenParentDto {
  @ApiPropertyOptional({ description: `${ID_DESCRIPTION}; generated when absent`, example: 'acme' })
  @IsOptional()
  @IsString()
  @Matches(ID_PATTERN, { message: `id must be ${ID_DESCRIPTION}` })
  id?: string;

  @ApiProperty({ example: 'Acme Agency', maxLength: MAX_NAME_LENGTH })
  @IsString()
  @IsNonBlank()
  @IsDisplayText()
  @MaxLength(MAX_NAME_LENGTH)
  name!: string;

  @ApiProperty({ enum: CURRENCIES, example: 'EUR', description: 'fixed for the life of the parent' })
  @IsCurrencyCode()
  currency!: string;

  @ApiProperty({ example: '0.00099', description: 'decimal price per credit' })
  @IsCreditPrice()
  creditPrice!: string;
}

export class PurchaseCreditsDto {
  @ApiProperty({ minimum: 1, maximum: MAX_CREDITS, example: 20000 })
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS)
  credits!: number;

  @ApiPropertyOptional({ maxLength: MAX_REFERENCE_LENGTH, example: 'PO-17' })
  @IsOptional()
  @IsString()
  @IsDisplayText()
  @MaxLength(MAX_REFERENCE_LENGTH)
  reference?: string;

  @ApiPropertyOptional({ enum: ['paid', 'granted'], description: '"paid" when absent' })
  @IsOptional()
  @IsIn(['paid', 'granted'])
  kind?: 'paid' | 'granted';

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'when what is left of the lot expires (after a grace period for late usage); none: never',
  })
  @IsOptional()
  @IsString()
  expiresAt?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 100, description: 'lower burns first; 50 when absent' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  priority?: number;
}

export class UpdateParentDto {
  @ApiPropertyOptional({ maxLength: MAX_NAME_LENGTH })
  @IsOptional()
  @IsString()
  @IsNonBlank()
  @IsDisplayText()
  @MaxLength(MAX_NAME_LENGTH)
  name?: string;

  @ApiPropertyOptional({ example: '0.001', description: 'applies from the next billing period' })
  @IsOptional()
  @IsCreditPrice()
  creditPrice?: string;

  @ApiPropertyOptional({
    type: [Number],
    example: [80, 100],
    maxItems: 10,
    description:
      'percent of quota (1–100) at which QuotaThresholdReached is recorded, once per crossing; [] for none; [80, 100] until set',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(100, { each: true })
  alertThresholds?: number[];

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: MAX_CREDITS,
    description:
      'PoolBalanceLow is recorded when the available pool falls below it; null: never (the default)',
  })
  @ValidateIf((dto: UpdateParentDto) => dto.lowPoolThreshold !== null && dto.lowPoolThreshold !== undefined)
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS)
  lowPoolThreshold?: number | null;
}
