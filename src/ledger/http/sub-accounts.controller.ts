import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CommandBus } from '@nestjs/cqrs';
import { ForbiddenError } from '../../auth/auth.errors';
import { toProblem } from '../../http/error-problem';
import type { ProblemDetails } from '../../http/problem';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { apiKeysOf, DomainError, isDomainError, requireSubAccountFields, type ApiKeyView } from '../domain';
import { LedgerService } from '../application/ledger.service';
import {
  AllocateQuotaCommand,
  CloseSubAccountCommand,
  CreateSubAccountCommand,
  CreateSubAccountsBatchCommand,
  IssueApiKeyCommand,
  ReturnCreditsCommand,
  RevokeApiKeyCommand,
  SetQuotaCommand,
  SetRecurringAllocationCommand,
  UpdateSubAccountCommand,
  type LedgerCommandMessage,
} from '../application/commands';
import {
  AllocateCreditsDto,
  CreateSubAccountDto,
  CreateSubAccountsBatchDto,
  SubAccountPageQueryDto,
  ReturnCreditsDto,
  SetQuotaDto,
  SetRecurringAllocationDto,
  UpdateSubAccountDto,
} from './dto/sub-account.dto';
import {
  ApiKeyListDto,
  BatchSubAccountFailureDto,
  BatchSubAccountResultsDto,
  BatchSubAccountSuccessDto,
  IssuedApiKeyDto,
  SubAccountDto,
  SubAccountPageDto,
} from './dto/responses.dto';
import { requireEmptyBody } from './dto/empty-body';
import { subAccountPage, subAccountResponse, type SubAccountResponse } from './ledger.views';
import { Context, type RequestContext } from '../../auth/request-context';

/**
 * Prices are the operator's (SPEC §1, §4): a parent that gives `creditPrice`, even its current value,
 * is refused whole, before anything is decided, so nothing of the request is recorded.
 */
function requireOperatorForPrice(context: RequestContext, body: { creditPrice?: unknown }): void {
  if (body.creditPrice !== undefined && context.principal.role !== 'operator') {
    throw new ForbiddenError('Only the operator sets or changes prices: leave creditPrice out.');
  }
}

export type BatchSubAccountResult =
  { status: 201; subAccount: SubAccountResponse } | { status: number; error: ProblemDetails };

/** Answered for the whole batch request, as on the usage batch route: every outcome is then unknown. */
const WHOLE_REQUEST_FAILURES: ReadonlySet<string> = new Set([
  'event_store_unavailable',
  'concurrency_conflict',
  'append_too_large',
  'internal_error',
]);

export type IssuedApiKey = {
  id: string;
  secret: string;
  prefix: string;
  subAccountId: string;
  issuedAt: string;
};

/**
 * Sub-accounts, their credits and their keys. Every write is followed by a read of the sub-account
 * through the same per-parent queue, so the answer shows the state right after the command.
 */
@ApiTags('sub-accounts')
@ApiBearerAuth()
@Controller('v1/parents/:p/sub-accounts')
@KeyCheckedInCommand()
export class SubAccountsController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly commands: CommandBus,
  ) {}

  @Post()
  @Roles('parent', 'operator')
  @ApiOperation({
    summary: 'Create a sub-account, optionally with a quota taken from the pool (creditPrice: operator only)',
  })
  @ApiCreatedResponse({ type: SubAccountDto, description: 'the sub-account' })
  @ApiResponse({ status: 403, description: '`forbidden`: a parent key gave `creditPrice`' })
  async create(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: CreateSubAccountDto,
  ): Promise<SubAccountResponse> {
    requireOperatorForPrice(context, body);
    const { id: subAccountId, ...rest } = body;
    return this.change(new CreateSubAccountCommand(context, parentId, { subAccountId, ...rest }));
  }

  @Post('batch')
  @Roles('parent', 'operator')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Create up to 1,000 sub-accounts; each is created or refused on its own, results in order (creditPrice: operator only)',
  })
  // The results' members are named by $ref only (oneOf), so the document must be told of them.
  @ApiExtraModels(BatchSubAccountSuccessDto, BatchSubAccountFailureDto)
  @ApiOkResponse({
    type: BatchSubAccountResultsDto,
    description: '`{results: [{status: 201, subAccount} | {status, error: problem}]}`',
  })
  @ApiResponse({
    status: 403,
    description: '`forbidden`: a parent key gave `creditPrice` (nothing is created)',
  })
  async createBatch(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: CreateSubAccountsBatchDto,
  ): Promise<{ results: BatchSubAccountResult[] }> {
    for (const item of body.subAccounts) requireOperatorForPrice(context, item);
    const items = body.subAccounts.map(({ id: subAccountId, ...rest }) => ({ subAccountId, ...rest }));
    // Bad input anywhere refuses the request whole, before anything is decided (as a single create).
    items.forEach((item, index) => {
      try {
        requireSubAccountFields(item);
      } catch (error) {
        if (!isDomainError(error)) throw error;
        throw new DomainError(error.code, `subAccounts[${index}]: ${error.reason}`);
      }
    });
    const outcomes = await this.commands.execute(new CreateSubAccountsBatchCommand(context, parentId, items));
    const created = body.subAccounts.filter((_, index) => outcomes[index].status === 'fulfilled');
    const now = this.ledger.now();
    const { result: views } = await this.ledger.read(context, parentId, (state) =>
      created.map((item) => subAccountResponse(state, item.id, now, context.principal)),
    );
    let next = 0;
    const instance = `/v1/parents/${parentId}/sub-accounts/batch`;
    const results = outcomes.map((outcome, index): BatchSubAccountResult => {
      if (outcome.status === 'fulfilled') return { status: 201, subAccount: views[next++] };
      const problem = toProblem(outcome.reason, { method: 'POST', url: `${instance}#${index}` });
      // A failure of the store or of the code is not one sub-account's: it fails the request.
      if (WHOLE_REQUEST_FAILURES.has(problem.code)) throw outcome.reason;
      return { status: problem.status, error: problem };
    });
    return { results };
  }

  @Get()
  @Roles('parent')
  @ApiOperation({
    summary: 'Sub-accounts with their balances, in id order, cursor-paginated; `idPrefix` searches by id',
  })
  @ApiOkResponse({ type: SubAccountPageDto })
  async list(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Query() query: SubAccountPageQueryDto,
  ): Promise<{ items: SubAccountResponse[]; nextCursor: string | null }> {
    const now = this.ledger.now();
    const page = {
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      ...(query.limit === undefined ? {} : { limit: Number(query.limit) }),
      ...(query.idPrefix === undefined ? {} : { idPrefix: query.idPrefix }),
    };
    return (
      await this.ledger.read(context, parentId, (state) =>
        subAccountPage(state, now, context.principal, page),
      )
    ).result;
  }

  @Get(':s')
  @Roles('parent', 'sub-account')
  @ApiOperation({ summary: 'One sub-account: status, billing model, quota, used, remaining' })
  @ApiOkResponse({ type: SubAccountDto })
  async get(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
  ): Promise<SubAccountResponse> {
    const now = this.ledger.now();
    return (
      await this.ledger.read(context, parentId, (state) =>
        subAccountResponse(state, subAccountId, now, context.principal),
      )
    ).result;
  }

  @Patch(':s')
  @Roles('parent', 'operator')
  @ApiOperation({
    summary:
      'Rename, or change billing model or price (terms from the next period; creditPrice: operator only)',
  })
  @ApiOkResponse({ type: SubAccountDto })
  @ApiResponse({ status: 403, description: '`forbidden`: a parent key gave `creditPrice`' })
  update(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: UpdateSubAccountDto,
  ): Promise<SubAccountResponse> {
    requireOperatorForPrice(context, body);
    return this.change(new UpdateSubAccountCommand(context, parentId, { subAccountId, ...body }));
  }

  @Put(':s/quota')
  @Roles('parent')
  @ApiOperation({ summary: 'Set the quota: above today allocates the difference, below returns it' })
  @ApiOkResponse({ type: SubAccountDto })
  @ApiResponse({ status: 409, description: '`insufficient_pool`, `quota_below_used`, `sub_account_closed`' })
  setQuota(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: SetQuotaDto,
  ): Promise<SubAccountResponse> {
    return this.change(new SetQuotaCommand(context, parentId, { subAccountId, quota: body.quota }));
  }

  @Put(':s/recurring-allocation')
  @Roles('parent')
  @ApiOperation({
    summary:
      "Set the credits allocated at each period start (this period's at once if none was made yet); null stops it",
  })
  @ApiOkResponse({ type: SubAccountDto })
  @ApiResponse({ status: 409, description: '`insufficient_pool`, `sub_account_closed`' })
  setRecurringAllocation(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: SetRecurringAllocationDto,
  ): Promise<SubAccountResponse> {
    return this.change(
      new SetRecurringAllocationCommand(context, parentId, { subAccountId, credits: body.credits }),
    );
  }

  @Post(':s/allocations')
  @Roles('parent')
  @HttpCode(200)
  @ApiOperation({ summary: 'Move credits from the pool into the quota' })
  @ApiOkResponse({ type: SubAccountDto, description: 'the sub-account after the allocation' })
  @ApiResponse({ status: 409, description: '`insufficient_pool`, `sub_account_closed`' })
  allocate(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: AllocateCreditsDto,
  ): Promise<SubAccountResponse> {
    return this.change(new AllocateQuotaCommand(context, parentId, { subAccountId, credits: body.credits }));
  }

  @Post(':s/returns')
  @Roles('parent')
  @HttpCode(200)
  @ApiOperation({ summary: 'Return unused credits to the pool (all unused when credits is absent)' })
  @ApiOkResponse({ type: SubAccountDto })
  @ApiResponse({ status: 409, description: '`quota_below_used`, `sub_account_closed`' })
  returnCredits(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: ReturnCreditsDto,
  ): Promise<SubAccountResponse> {
    return this.change(
      new ReturnCreditsCommand(
        context,
        parentId,
        body.credits === undefined ? { subAccountId } : { subAccountId, credits: body.credits },
      ),
    );
  }

  @Post(':s/close')
  @Roles('parent')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Close: unused credits go back to the pool, its keys stop working; repeating it changes nothing',
  })
  @ApiOkResponse({ type: SubAccountDto })
  close(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: unknown,
  ): Promise<SubAccountResponse> {
    requireEmptyBody(body);
    return this.change(new CloseSubAccountCommand(context, parentId, { subAccountId }));
  }

  @Post(':s/api-keys')
  @Roles('parent')
  @ApiOperation({ summary: 'Issue a sub-account key; the secret is in this answer and nowhere else' })
  @ApiCreatedResponse({
    type: IssuedApiKeyDto,
    description: '`{id, secret, prefix, subAccountId, issuedAt}`',
  })
  async issueKey(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Body() body: unknown,
  ): Promise<IssuedApiKey> {
    requireEmptyBody(body);
    const { result } = await this.commands.execute(
      new IssueApiKeyCommand(context, parentId, { subAccountId }),
    );
    return { ...result, subAccountId };
  }

  @Get(':s/api-keys')
  @Roles('parent')
  @ApiOperation({ summary: "The sub-account's keys, without secrets or hashes" })
  @ApiOkResponse({ type: ApiKeyListDto })
  async listKeys(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
  ): Promise<{ items: (Omit<ApiKeyView, 'keyId'> & { id: string })[] }> {
    const { result } = await this.ledger.read(context, parentId, (state) => apiKeysOf(state, subAccountId));
    return { items: result.map(({ keyId, ...key }) => ({ id: keyId, ...key })) };
  }

  @Delete(':s/api-keys/:k')
  @Roles('parent')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a key: refused from the next request on; repeating it changes nothing' })
  @ApiNoContentResponse({ description: 'done; no body' })
  async revokeKey(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Param('k') keyId: string,
  ): Promise<void> {
    await this.commands.execute(new RevokeApiKeyCommand(context, parentId, { keyId, subAccountId }));
  }

  private async change(
    command: LedgerCommandMessage<{ subAccountId: string }, null>,
  ): Promise<SubAccountResponse> {
    await this.commands.execute(command);
    return this.get(command.context, command.parentId, command.data.subAccountId);
  }
}
