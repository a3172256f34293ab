import { Body, Controller, HttpCode, Param, Post, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { toProblem } from '../../http/error-problem';
import type { ProblemDetails } from '../../http/problem';
import { RecordUsageBatchCommand, RecordUsageCommand } from '../application/commands';
import {
  BatchUsageFailureDto,
  BatchUsageResultsDto,
  BatchUsageSuccessDto,
  UsageRecordedDto,
} from './dto/responses.dto';
import { BatchUsageDto, RecordUsageDto } from './dto/usage.dto';
import { Context, type RequestContext } from '../../auth/request-context';

export type UsageAnswer = { usageId: string; remaining: number };

export type BatchUsageResult =
  { status: 201 | 200; usageId: string; remaining: number } | { status: number; error: ProblemDetails };

/**
 * The hot path. A request costs one trip through its parent's queue: the key check, the idempotency
 * lookup, rule 2 and the append all happen in one decision, batched with every other usage record
 * waiting for the same parent into one append.
 */
@ApiTags('usage')
@ApiBearerAuth()
@Controller('v1/parents/:p')
@KeyCheckedInCommand()
export class UsageController {
  constructor(private readonly commands: CommandBus) {}

  @Post('sub-accounts/:s/usage')
  @Roles('parent', 'sub-account')
  @ApiOperation({ summary: 'Record usage; a repeat of the same idempotency key is recorded once' })
  @ApiCreatedResponse({ type: UsageRecordedDto, description: '`{usageId, remaining}`: recorded now' })
  @ApiOkResponse({
    type: UsageRecordedDto,
    description: '`{usageId, remaining}`: a repeat, answered as the first time',
  })
  @ApiResponse({
    status: 409,
    description: '`insufficient_quota`, `idempotency_conflict`, `sub_account_closed`',
  })
  async record(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: RecordUsageDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UsageAnswer> {
    const { result } = await this.commands.execute(
      new RecordUsageCommand(context, parentId, usageData(subAccountId, body)),
    );
    void reply.status(result.replayed ? 200 : 201);
    return { usageId: result.usageId, remaining: result.remaining };
  }

  @Post('usage/batch')
  @Roles('parent')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Record up to 1,000 usage records; each succeeds or fails on its own, results in order',
  })
  // The results' members are named by $ref only (oneOf), so the document must be told of them.
  @ApiExtraModels(BatchUsageSuccessDto, BatchUsageFailureDto)
  @ApiOkResponse({
    type: BatchUsageResultsDto,
    description: '`{results: [{status, usageId, remaining} | {status, error: problem}]}`',
  })
  async batch(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: BatchUsageDto,
  ): Promise<{ results: BatchUsageResult[] }> {
    const instance = `/v1/parents/${parentId}/usage/batch`;
    const outcomes = await this.commands.execute(
      new RecordUsageBatchCommand(
        context,
        parentId,
        body.records.map((record) => usageData(record.subAccountId, record)),
      ),
    );
    const results = outcomes.map((outcome, index): BatchUsageResult => {
      if (outcome.status === 'fulfilled') {
        const { result } = outcome.value;
        return { status: result.replayed ? 200 : 201, usageId: result.usageId, remaining: result.remaining };
      }
      const problem = recordProblem(outcome.reason, `${instance}#${index}`);
      if (!problem) throw outcome.reason;
      return { status: problem.status, error: problem };
    });
    return { results };
  }
}

function usageData(subAccountId: string, body: RecordUsageDto) {
  return {
    subAccountId,
    idempotencyKey: body.idempotencyKey,
    credits: body.credits,
    ...(body.meter === undefined ? {} : { meter: body.meter }),
    ...(body.occurredAt === undefined ? {} : { occurredAt: body.occurredAt }),
    ...(body.attributes === undefined ? {} : { attributes: body.attributes }),
  };
}

/**
 * A refusal of one record, as the problem it would have been alone, through the same mapper as the
 * single route's answer. Failures of the store are not a record's own: they fail the whole request
 * (503), since the outcome of every record is then unknown; so does an unexpected error (500).
 */
function recordProblem(error: unknown, instance: string): ProblemDetails | null {
  const problem = toProblem(error, { method: 'POST', url: instance });
  return WHOLE_REQUEST_FAILURES.has(problem.code) ? null : problem;
}

const WHOLE_REQUEST_FAILURES: ReadonlySet<string> = new Set([
  'event_store_unavailable',
  'concurrency_conflict',
  'internal_error',
]);
