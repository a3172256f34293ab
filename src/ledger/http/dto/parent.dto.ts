import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
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
}
