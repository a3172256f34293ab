import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyCheckedInCommand, Roles } from '../auth/roles.decorator';
import { LedgerService, type RequestContext } from '../ledger/application/ledger.service';
import { requireParent } from '../ledger/domain';
import { Context } from '../ledger/http/request-context.decorator';
import { ProjectionRunner, UsageAnalyticsService, type UsageReport } from '../projections';
import { UsageAnalyticsQueryDto } from './usage-analytics.dto';

/** How long a read waits for the read model to reach the parent's last write before a 503. */
const READ_YOUR_WRITES_TIMEOUT_MS = 2_000;

@ApiTags('analytics')
@ApiBearerAuth()
@Controller('v1/parents/:p')
@KeyCheckedInCommand()
export class UsageAnalyticsController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly runner: ProjectionRunner,
    private readonly analytics: UsageAnalyticsService,
  ) {}

  @Get('usage')
  @Roles('parent')
  @ApiOperation({ summary: 'Usage totals by sub-account, meter or UTC day of occurredAt; `to` excluded' })
  async usage(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Query() query: UsageAnalyticsQueryDto,
  ): Promise<UsageReport> {
    // Through the parent's queue first: the key is still active, and the stream's latest commit
    // position is what the read model must reach so a caller sees its own writes.
    const { commitPosition } = await this.ledger.read(context, parentId, (state) => {
      requireParent(state);
      return null;
    });
    if (commitPosition !== undefined) {
      await this.runner.waitForPosition(commitPosition, READ_YOUR_WRITES_TIMEOUT_MS);
    }
    return this.analytics.usage(parentId, {
      groupBy: query.groupBy ?? 'subAccount',
      ...(query.from === undefined ? {} : { from: new Date(query.from) }),
      ...(query.to === undefined ? {} : { to: new Date(query.to) }),
    });
  }
}
