import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { ApplicationError } from '../../http/problem';
import { Context, type RequestContext } from '../../auth/request-context';
import { LedgerService } from '../../ledger/application/ledger.service';
import { requireSubAccount, subAccountBalances } from '../../ledger/domain';
import { ReadYourWrites } from '../read-your-writes';
import { BalanceAsOfService, type BalanceAsOf } from './balance-as-of.service';
import { BalanceAsOfDto, BalanceQueryDto } from './balance.dto';

/**
 * A sub-account's balance: now from the ledger's own state, at an earlier instant from the
 * credit entries (`credit_entries`).
 */
@ApiTags('sub-accounts')
@ApiBearerAuth()
@Controller('v1/parents/:p/sub-accounts/:s')
@KeyCheckedInCommand()
export class BalanceController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly readYourWrites: ReadYourWrites,
    private readonly balances: BalanceAsOfService,
  ) {}

  @Get('balance')
  @Roles('parent', 'sub-account')
  @ApiOperation({
    summary: 'quota, used and remaining as of an instant (now by default; an instant after now is refused)',
  })
  @ApiOkResponse({ type: BalanceAsOfDto })
  async balance(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Query() query: BalanceQueryDto,
  ): Promise<BalanceAsOf> {
    if (query.asOf === undefined) {
      const now = this.ledger.now();
      const { result } = await this.ledger.read(context, parentId, (state) =>
        subAccountBalances(requireSubAccount(state, subAccountId)),
      );
      return { asOf: now.toISOString(), existed: true, ...result };
    }
    // The balance at an instant still to come is not known yet: usage may happen before it.
    const asOf = new Date(query.asOf);
    const now = this.ledger.now();
    if (asOf.getTime() > now.getTime()) {
      throw new ApplicationError(
        'validation_failed',
        `asOf is after the service clock's now (${now.toISOString()}); leave it out for the current balance.`,
        { errors: [{ field: 'asOf', message: 'asOf must not be in the future' }] },
      );
    }
    await this.readYourWrites.catchUp(context, parentId, (state) => requireSubAccount(state, subAccountId));
    const balance = await this.balances.balanceAsOf(parentId, subAccountId, asOf);
    if (!balance) throw new ApplicationError('not_found', `Sub-account ${subAccountId} not found.`);
    return balance;
  }
}
