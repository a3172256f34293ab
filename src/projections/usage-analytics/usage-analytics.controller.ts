import type { Readable } from 'node:stream';
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { text, toCsv } from '../../http/csv';
import { CsvOrJson, JsonOrCsv, type CsvNegotiation } from '../../http/csv-negotiation';
import { ApplicationError } from '../../http/problem';
import { Context, type RequestContext } from '../../auth/request-context';
import { requireParent, requireSubAccount } from '../../ledger/domain';
import { ReadYourWrites } from '../read-your-writes';
import { UsageAnalyticsService } from './usage-analytics.service';
import { ParentUsageQueryDto, UsageAnalyticsQueryDto, UsageReportDto } from './usage-analytics.dto';
import { fieldOf, type UsageDimension, type UsageReportQuery, type UsageReportView } from './usage-report';

/**
 * Usage analytics, from the usage-analytics read model's (sub-account, meter, UTC day) buckets:
 * the parent's for every sub-account (or one, with `subAccountId`), and one sub-account's own
 * (parent or that sub-account's key). `Accept: text/csv` gives one row per bucket.
 */
@ApiTags('analytics')
@ApiBearerAuth()
@Controller('v1/parents/:p')
@KeyCheckedInCommand()
export class UsageAnalyticsController {
  constructor(
    private readonly readYourWrites: ReadYourWrites,
    private readonly analytics: UsageAnalyticsService,
  ) {}

  @Get('usage')
  @Roles('parent')
  @ApiOperation({
    summary: 'Usage totals by subAccount, meter, day and/or month of occurredAt (UTC); `to` excluded',
  })
  @JsonOrCsv(UsageReportDto, 'group')
  async usage(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Query() query: ParentUsageQueryDto,
    @CsvOrJson() csv: CsvNegotiation,
  ): Promise<string | Readable> {
    return this.answer(context, parentId, query, query.subAccountId, csv, `usage-${parentId}.csv`);
  }

  @Get('sub-accounts/:s/usage')
  @Roles('parent', 'sub-account')
  @ApiOperation({
    summary: "One sub-account's usage totals: the parent's report filtered to it (same groupBy, from, to)",
  })
  @JsonOrCsv(UsageReportDto, 'group')
  async subAccountUsage(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Query() query: UsageAnalyticsQueryDto,
    @CsvOrJson() csv: CsvNegotiation,
  ): Promise<string | Readable> {
    return this.answer(context, parentId, query, subAccountId, csv, `usage-${parentId}-${subAccountId}.csv`);
  }

  /**
   * JSON is written from the rows COPY sent into buffers sent as they are (a parent's report may hold
   * 100,000 groups, 6.8 MB); CSV is rendered here from the report's rows.
   */
  private async answer(
    context: RequestContext,
    parentId: string,
    query: UsageAnalyticsQueryDto,
    subAccountId: string | undefined,
    csv: CsvNegotiation,
    filename: string,
  ): Promise<string | Readable> {
    const report = await this.report(context, parentId, query, subAccountId);
    if (!csv.wanted) {
      const body = await this.analytics.usageJson(parentId, report);
      return csv.jsonChunks(body.chunks, body.bytes, body.sent);
    }
    return csv.send(filename, usageCsv(await this.analytics.usage(parentId, report)));
  }

  /** The report the query asks for, once the parent (and sub-account) are known to exist. */
  private async report(
    context: RequestContext,
    parentId: string,
    query: UsageAnalyticsQueryDto,
    subAccountId: string | undefined,
  ): Promise<UsageReportQuery> {
    const groupBy = (query.groupBy ?? 'subAccount').split(',') as UsageDimension[];
    if (new Set(groupBy).size !== groupBy.length) {
      throw new ApplicationError('validation_failed', 'groupBy must not name a dimension twice.', {
        errors: [{ field: 'groupBy', message: 'groupBy must not name a dimension twice' }],
      });
    }
    await this.readYourWrites.catchUp(context, parentId, (state) => {
      requireParent(state);
      if (subAccountId !== undefined) requireSubAccount(state, subAccountId);
    });
    return {
      groupBy,
      ...(query.from === undefined ? {} : { from: new Date(query.from) }),
      ...(query.to === undefined ? {} : { to: new Date(query.to) }),
      ...(subAccountId === undefined ? {} : { subAccountId }),
    };
  }
}

/** One row per group: its grouped values in groupBy order, then credits and records. */
export function usageCsv(report: UsageReportView): string {
  const fields = report.groupBy.map(fieldOf);
  return toCsv(
    [...fields, 'credits', 'records'],
    report.groups.map((group) => [
      ...fields.map((field) => text(group[field])),
      group.credits,
      group.records,
    ]),
  );
}
