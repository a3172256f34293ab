import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { CsvOrJson, JsonOrCsv, type CsvNegotiation } from '../../http/csv-negotiation';
import { ApplicationError } from '../../http/problem';
import { Context, type RequestContext } from '../../auth/request-context';
import { requireSubAccount } from '../../ledger/domain';
import { ReadYourWrites } from '../read-your-writes';
import { historyCsv, wholeRange } from './history-csv';
import { HistoryPageDto, HistoryQueryDto } from './history.dto';
import { MAX_HISTORY_LIMIT, type SubAccountHistoryEntry } from './history-entry';
import { SubAccountHistoryService, type HistoryPage } from './sub-account-history.service';

const DEFAULT_HISTORY_LIMIT = 100;

/** A sub-account's audit trail, served by the credit-entries projection. */
@ApiTags('sub-accounts')
@ApiBearerAuth()
@Controller('v1/parents/:p/sub-accounts/:s')
@KeyCheckedInCommand()
export class HistoryController {
  constructor(
    private readonly readYourWrites: ReadYourWrites,
    private readonly history: SubAccountHistoryService,
  ) {}

  @Get('history')
  @Roles('parent', 'sub-account')
  @ApiOperation({
    summary: 'The audit trail: every credit event with balances after, actor and correlation id',
  })
  @JsonOrCsv(HistoryPageDto, 'entry')
  async auditTrail(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Query() query: HistoryQueryDto,
    @CsvOrJson() csv: CsvNegotiation,
  ): Promise<HistoryPage<SubAccountHistoryEntry> | string> {
    if (query.from !== undefined && query.to !== undefined && Date.parse(query.to) < Date.parse(query.from)) {
      throw new ApplicationError('validation_failed', 'to must not be before from.', {
        errors: [{ field: 'to', message: 'to must not be before from' }],
      });
    }
    await this.readYourWrites.catchUp(context, parentId, (state) => requireSubAccount(state, subAccountId));
    const range = {
      ...(query.from === undefined ? {} : { from: new Date(query.from) }),
      ...(query.to === undefined ? {} : { to: new Date(query.to) }),
    };
    const page = await this.history.history(parentId, subAccountId, {
      ...range,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      limit:
        query.limit === undefined
          ? csv.wanted
            ? MAX_HISTORY_LIMIT
            : DEFAULT_HISTORY_LIMIT
          : Number(query.limit),
    });
    if (!page) throw new ApplicationError('not_found', `Sub-account ${subAccountId} not found.`);
    if (!csv.wanted) return page;
    // A CSV export without `limit` is the whole range (docs/billing.md, "Exports").
    const exported =
      query.limit === undefined
        ? await wholeRange(page, (cursor) =>
            this.history.history(parentId, subAccountId, { ...range, cursor, limit: MAX_HISTORY_LIMIT }),
          )
        : page;
    return csv.send(
      `history-${parentId}-${subAccountId}.csv`,
      historyCsv(exported.entries),
      exported.nextCursor === null ? {} : { 'x-next-cursor': exported.nextCursor },
    );
  }
}
