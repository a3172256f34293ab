import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CommandBus } from '@nestjs/cqrs';
import { mintApiKey } from '../../auth/api-key-secret';
import { ApiKeyRegistry } from '../../auth/api-key.registry';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { apiKeysOf, lotsOf, parentView, type ApiKeyView, type LotView, type ParentView } from '../domain';
import { LedgerService } from '../application/ledger.service';
import {
  IssueApiKeyCommand,
  OpenParentAccountCommand,
  PurchaseCreditsCommand,
  RevokeApiKeyCommand,
  UpdateParentAccountCommand,
} from '../application/commands';
import { OpenParentDto, PurchaseCreditsDto, UpdateParentDto } from './dto/parent.dto';
import {
  ApiKeyListDto,
  IssuedApiKeyDto,
  LotListDto,
  OpenedParentDto,
  ParentDto,
  PurchasedCreditsDto,
} from './dto/responses.dto';
import { requireEmptyBody } from './dto/empty-body';
import { Context, type RequestContext } from '../../auth/request-context';

export type OpenedParent = ParentView & { apiKey: { id: string; secret: string; prefix: string } };

export type IssuedParentKey = {
  id: string;
  secret: string;
  prefix: string;
  subAccountId: null;
  issuedAt: string;
};

export type ListedApiKey = Omit<ApiKeyView, 'keyId'> & { id: string };

@ApiTags('parents')
@ApiBearerAuth()
@Controller('v1/parents')
export class ParentsController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly commands: CommandBus,
    private readonly keys: ApiKeyRegistry,
  ) {}

  @Post()
  @Roles('operator')
  @ApiOperation({ summary: 'Open a parent account; its parent key is in the answer, and only there' })
  @ApiCreatedResponse({
    type: OpenedParentDto,
    description: 'the parent with `apiKey: {id, secret, prefix}`',
  })
  @ApiResponse({ status: 409, description: '`already_exists`' })
  async open(@Context() context: RequestContext, @Body() body: OpenParentDto): Promise<OpenedParent> {
    const parentId = body.id ?? `p_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    const key = mintApiKey(parentId);
    await this.commands.execute(
      new OpenParentAccountCommand(context, parentId, {
        parentId,
        name: body.name,
        currency: body.currency,
        creditPrice: body.creditPrice,
        parentKey: { keyId: key.keyId, prefix: key.prefix, secretHash: key.secretHash },
      }),
    );
    this.keys.remember({ keyId: key.keyId, parentId, subAccountId: null, secretHash: key.secretHash });
    const { result } = await this.ledger.read(context, parentId, (state) =>
      parentView(state, this.ledger.now()),
    );
    return { ...result, apiKey: { id: key.keyId, secret: key.secret, prefix: key.prefix } };
  }

  @Get(':p')
  @Roles('operator', 'parent')
  @KeyCheckedInCommand()
  @ApiOperation({ summary: 'The parent with its pool: purchased, allocated, available, used' })
  @ApiOkResponse({ type: ParentDto })
  async get(@Context() context: RequestContext, @Param('p') parentId: string): Promise<ParentView> {
    const now = this.ledger.now();
    return (await this.ledger.read(context, parentId, (state) => parentView(state, now))).result;
  }

  @Patch(':p')
  @Roles('operator')
  @ApiOperation({
    summary: 'Rename the parent, change its price (from the next billing period) or its alert thresholds',
  })
  @ApiOkResponse({ type: ParentDto })
  async update(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: UpdateParentDto,
  ): Promise<ParentView> {
    await this.commands.execute(new UpdateParentAccountCommand(context, parentId, { ...body }));
    return this.get(context, parentId);
  }

  @Post(':p/credits')
  @Roles('operator')
  @HttpCode(200)
  @ApiOperation({
    summary: "Add a lot of purchased (or granted) credits to the parent's pool, with its expiry and priority",
  })
  @ApiOkResponse({
    type: PurchasedCreditsDto,
    description: 'the parent with its pool after the purchase, and the new lot',
  })
  async purchase(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: PurchaseCreditsDto,
  ): Promise<ParentView & { lotId: string }> {
    const { result } = await this.commands.execute(
      new PurchaseCreditsCommand(context, parentId, { ...body }),
    );
    return { ...(await this.get(context, parentId)), lotId: result.lotId };
  }

  @Get(':p/credits')
  @Roles('operator', 'parent')
  @KeyCheckedInCommand()
  @ApiOperation({ summary: "The parent's credit lots in burn order, with what is left of each" })
  @ApiOkResponse({ type: LotListDto })
  async lots(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
  ): Promise<{ items: LotView[] }> {
    return { items: (await this.ledger.read(context, parentId, lotsOf)).result };
  }

  /*
   * Parent keys (SPEC §4): a leaked key is rotated without downtime by issuing another, switching the
   * callers over, then revoking the leaked one, which is refused from the next request on. The last
   * active parent key cannot be revoked (409 `last_parent_key`, docs/auth.md).
   */

  @Post(':p/api-keys')
  @Roles('operator', 'parent')
  @KeyCheckedInCommand()
  @ApiOperation({ summary: 'Issue another parent key; the secret is in this answer and nowhere else' })
  @ApiCreatedResponse({
    type: IssuedApiKeyDto,
    description: '`{id, secret, prefix, subAccountId: null, issuedAt}`',
  })
  async issueKey(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: unknown,
  ): Promise<IssuedParentKey> {
    requireEmptyBody(body);
    const { result } = await this.commands.execute(
      new IssueApiKeyCommand(context, parentId, { subAccountId: null }),
    );
    return { ...result, subAccountId: null };
  }

  @Get(':p/api-keys')
  @Roles('operator', 'parent')
  @KeyCheckedInCommand()
  @ApiOperation({ summary: "The parent's own keys, active and revoked, without secrets or hashes" })
  @ApiOkResponse({ type: ApiKeyListDto })
  async listKeys(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
  ): Promise<{ items: ListedApiKey[] }> {
    const { result } = await this.ledger.read(context, parentId, (state) => apiKeysOf(state, null));
    return { items: result.map(({ keyId, ...key }) => ({ id: keyId, ...key })) };
  }

  @Delete(':p/api-keys/:k')
  @Roles('operator', 'parent')
  @KeyCheckedInCommand()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke a parent key: refused from the next request on; repeating it changes nothing',
  })
  @ApiNoContentResponse({ description: 'done; no body' })
  @ApiResponse({ status: 409, description: "`last_parent_key`: the parent's only active key" })
  async revokeKey(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('k') keyId: string,
  ): Promise<void> {
    await this.commands.execute(new RevokeApiKeyCommand(context, parentId, { keyId, subAccountId: null }));
  }
}
