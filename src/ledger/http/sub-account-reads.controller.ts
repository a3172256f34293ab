import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { sendCsv, wantsCsv } from '../../http/csv';
import { ApplicationError } from '../../http/problem';
import {
  BalanceAsOfService,
  ProjectionRunner,
  SubAccountHistoryService,
  type BalanceAsOf,
  type HistoryPage,
  type SubAccountHistoryEntry,
} from '../../projections';
import { requireSubAccount, subAccountBalances } from '../domain';
import { LedgerService, type RequestContext } from '../application/ledger.service';
import { BalanceQueryDto, HistoryQueryDto } from './dto/history.dto';
import { historyCsv, wholeRange } from './history-csv';
import { Context } from './request-context.decorator';

/** How long a read waits for the read models to reach the caller's last write before a 503. */
const READ_YOUR_WRITES_TIMEOUT_MS = 2_000;
const DEFAULT_HISTORY_LIMIT = 100;
const MAX_HISTORY_LIMIT = 500;

/**
 * Reads served by the projections. Each first passes through the parent's queue (key check, the
 * sub-account exists, and the stream's latest commit position), then waits until the read models
 * have reached that position: a read right after a write already shows it.
 */
@ApiTags('sub-accounts')
@ApiBearerAuth()
@Controller('v1/parents/:p/sub-accounts/:s')
@KeyCheckedInCommand()
export class SubAccountReadsController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly runner: ProjectionRunner,
    private readonly history: SubAccountHistoryService,
    private readonly balances: BalanceAsOfService,
  ) {}

  @Get('history')
  @Roles('parent', 'sub-account')
  @ApiOperation({
    summary: 'The audit trail: every credit event with balances after, actor and correlation id',
  })
  @ApiProduces('application/json', 'text/csv')
  async auditTrail(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Query() query: HistoryQueryDto,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<HistoryPage<SubAccountHistoryEntry> | string> {
    if (query.from !== undefined && query.to !== undefined && Date.parse(query.to) < Date.parse(query.from)) {
      throw new ApplicationError('validation_failed', 'to must not be before from.', {
        errors: [{ field: 'to', message: 'to must not be before from' }],
      });
    }
    await this.catchUp(context, parentId, subAccountId);
    const csv = wantsCsv(accept);
    const range = {
      ...(query.from === undefined ? {} : { from: new Date(query.from) }),
      ...(query.to === undefined ? {} : { to: new Date(query.to) }),
    };
    const page = await this.history.history(parentId, subAccountId, {
      ...range,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      limit:
        query.limit === undefined ? (csv ? MAX_HISTORY_LIMIT : DEFAULT_HISTORY_LIMIT) : Number(query.limit),
    });
    if (!page) throw new ApplicationError('not_found', `Sub-account ${subAccountId} not found.`);
    if (!csv) return page;
    // A CSV export without `limit` is the whole range (docs/billing.md, "Exports").
    const exported =
      query.limit === undefined
        ? await wholeRange(page, (cursor) =>
            this.history.history(parentId, subAccountId, { ...range, cursor, limit: MAX_HISTORY_LIMIT }),
          )
        : page;
    if (exported.nextCursor !== null) void reply.header('x-next-cursor', exported.nextCursor);
    return sendCsv(reply, `history-${parentId}-${subAccountId}.csv`, historyCsv(exported.entries));
  }

  @Get('balance')
  @Roles('parent', 'sub-account')
  @ApiOperation({
    summary: 'quota, used and remaining as of an instant (now by default; an instant after now is refused)',
  })
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
    await this.catchUp(context, parentId, subAccountId);
    const balance = await this.balances.balanceAsOf(parentId, subAccountId, asOf);
    if (!balance) throw new ApplicationError('not_found', `Sub-account ${subAccountId} not found.`);
    return balance;
  }

  private async catchUp(context: RequestContext, parentId: string, subAccountId: string): Promise<void> {
    const { commitPosition } = await this.ledger.read(context, parentId, (state) => {
      requireSubAccount(state, subAccountId);
      return null;
    });
    if (commitPosition !== undefined) {
      await this.runner.waitForPosition(commitPosition, READ_YOUR_WRITES_TIMEOUT_MS);
    }
  }
}
