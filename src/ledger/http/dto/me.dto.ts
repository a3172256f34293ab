import { ApiProperty } from '@nestjs/swagger';

export class MeParentDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'ISO 4217 code' }) currency!: string;
}

export class MeSubAccountDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ['active', 'closed'] }) status!: string;
  @ApiProperty({ description: 'credits allocated to it, net of returns' }) quota!: number;
  @ApiProperty() used!: number;
  @ApiProperty({ description: 'quota − used: the credits left' }) remaining!: number;
}

/** `GET /v1/me`: who the bearer token is, and for a sub-account key its credits left. */
export class MeDto {
  @ApiProperty({ enum: ['operator', 'parent', 'sub-account'] })
  role!: 'operator' | 'parent' | 'sub-account';

  @ApiProperty({ type: String, nullable: true, description: 'the API key id; null for the operator token' })
  keyId!: string | null;

  @ApiProperty({
    type: MeParentDto,
    nullable: true,
    description: 'the parent of the key; null for the operator',
  })
  parent!: MeParentDto | null;

  @ApiProperty({
    type: MeSubAccountDto,
    nullable: true,
    description: 'for a sub-account key: its sub-account with {quota, used, remaining}; null otherwise',
  })
  subAccount!: MeSubAccountDto | null;
}
