import { ApiProperty } from '@nestjs/swagger';

/** A sub-account's balances: in the balance-as-of answer, and after each entry of its history. */
export class BalancesDto {
  @ApiProperty() quota!: number;
  @ApiProperty() used!: number;
  @ApiProperty() remaining!: number;
}
