import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  ValidateIf,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { BILLING_MODELS, type BillingModel } from '../../domain';
import {
  ID_DESCRIPTION,
  ID_PATTERN,
  IsCreditPrice,
  IsDisplayText,
  IsNonBlank,
  MAX_CREDITS,
  MAX_NAME_LENGTH,
  MAX_REGION_LENGTH,
} from './validators';

export class CreateSubAccountDto {
  @ApiProperty({ description: ID_DESCRIPTION, example: 'shortpixel' })
  @IsString()
  @Matches(ID_PATTERN, { message: `id must be ${ID_DESCRIPTION}` })
  id!: string;

  @ApiProperty({ maxLength: MAX_NAME_LENGTH, example: 'ShortPixel' })
  @IsString()
  @IsNonBlank()
  @IsDisplayText()
  @MaxLength(MAX_NAME_LENGTH)
  name!: string;

  @ApiPropertyOptional({ maxLength: MAX_REGION_LENGTH, example: 'eu-west' })
  @IsOptional()
  @IsString()
  @IsDisplayText()
  @MaxLength(MAX_REGION_LENGTH)
  region?: string;

  @ApiProperty({ enum: BILLING_MODELS })
  @IsIn(BILLING_MODELS)
  billingModel!: BillingModel;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_CREDITS, description: 'initial quota from the pool' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_CREDITS)
  quota?: number;

  @ApiPropertyOptional({
    example: '0.0008',
    description: "its own price; the parent's when absent. Operator only (a parent key: 403)",
  })
  @IsOptional()
  @IsCreditPrice()
  creditPrice?: string;
}

/** Sub-accounts one batch request may create. */
export const MAX_BATCH_SUB_ACCOUNTS = 1_000;

export class CreateSubAccountsBatchDto {
  @ApiProperty({
    type: [CreateSubAccountDto],
    minItems: 1,
    maxItems: MAX_BATCH_SUB_ACCOUNTS,
    description: 'each as the single create takes it',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_SUB_ACCOUNTS)
  @ValidateNested({ each: true })
  @Type(() => CreateSubAccountDto)
  subAccounts!: CreateSubAccountDto[];
}

export class UpdateSubAccountDto {
  @ApiPropertyOptional({ maxLength: MAX_NAME_LENGTH })
  @IsOptional()
  @IsString()
  @IsNonBlank()
  @IsDisplayText()
  @MaxLength(MAX_NAME_LENGTH)
  name?: string;

  @ApiPropertyOptional({ enum: BILLING_MODELS, description: 'applies from the next billing period' })
  @IsOptional()
  @IsIn(BILLING_MODELS)
  billingModel?: BillingModel;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      "applies from the next billing period; null returns to the parent's price. Operator only (a parent key: 403)",
  })
  @IsOptional()
  @IsCreditPrice()
  creditPrice?: string | null;
}

export class SetRecurringAllocationDto {
  @ApiProperty({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: MAX_CREDITS,
    description:
      'credits allocated at each period start, after the unused part of the last recurring allocation went back; null stops it',
  })
  @ValidateIf((dto: SetRecurringAllocationDto) => dto.credits !== null)
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS)
  credits!: number | null;
}

export class SetQuotaDto {
  @ApiProperty({
    minimum: 0,
    maximum: MAX_CREDITS,
    description:
      'the new total; the difference is allocated from or returned to the pool. Both the total and the difference are at most 10^12 (rule 4)',
  })
  @IsInt()
  @Min(0)
  @Max(MAX_CREDITS)
  quota!: number;
}

export class AllocateCreditsDto {
  @ApiProperty({ minimum: 1, maximum: MAX_CREDITS })
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS)
  credits!: number;
}

export class ReturnCreditsDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_CREDITS, description: 'every unused credit when absent' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_CREDITS)
  credits?: number;
}

export class PageQueryDto {
  @ApiPropertyOptional({ description: 'the nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(400)
  cursor?: string;

  @ApiPropertyOptional({ description: '1–500, default 100', example: '100' })
  @IsOptional()
  @Matches(/^[1-9]\d{0,2}$/, { message: 'limit must be an integer from 1 to 500' })
  limit?: string;
}

export class SubAccountPageQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    description: 'only the sub-accounts whose id starts with this (case-sensitive), still in id order',
    example: 'acme-',
  })
  @IsOptional()
  @Matches(ID_PATTERN, { message: 'idPrefix must be the start of an id: letters, digits, _ . -' })
  idPrefix?: string;
}
