import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { KeyCheckedInCommand, Roles } from '../../auth/roles.decorator';
import { Context, type RequestContext } from '../../auth/request-context';
import { ReverseUsageCommand } from '../application/commands';
import { ReverseUsageDto, UsageReversedDto } from './dto/reversal.dto';

export type ReversalAnswer = { reversalId: string; usageId: string; credits: number; remaining: number };

/**
 * Corrections of recorded usage (SPEC §10): a `UsageReversed` linked to the usage, never an edit. While
 * the usage's period is open its draft loses the credits; after the close, the next invoice credits them.
 */
@ApiTags('usage')
@ApiBearerAuth()
@Controller('v1/parents/:p/sub-accounts/:s/usage/:usageId/reversals')
@KeyCheckedInCommand()
export class UsageReversalController {
  constructor(private readonly commands: CommandBus) {}

  @Post()
  @Roles('parent', 'operator')
  @ApiOperation({ summary: 'Reverse recorded usage, in full or in part; its credits go back to the quota' })
  @ApiCreatedResponse({ type: UsageReversedDto, description: 'reversed now' })
  @ApiOkResponse({
    type: UsageReversedDto,
    description: 'a repeat of the same idempotency key, answered as the first time',
  })
  @ApiResponse({
    status: 404,
    description: '`not_found`: no such usage of this sub-account in the last 35 days',
  })
  @ApiResponse({
    status: 409,
    description: '`reversal_exceeds_usage`, `idempotency_conflict`, `sub_account_closed`',
  })
  async reverse(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('s') subAccountId: string,
    @Param('usageId') usageId: string,
    @Body() body: ReverseUsageDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ReversalAnswer> {
    const { result } = await this.commands.execute(
      new ReverseUsageCommand(context, parentId, {
        subAccountId,
        usageId,
        idempotencyKey: body.idempotencyKey,
        reason: body.reason,
        ...(body.credits === undefined ? {} : { credits: body.credits }),
      }),
    );
    void reply.status(result.replayed ? 200 : 201);
    return {
      reversalId: result.reversalId,
      usageId: result.usageId,
      credits: result.credits,
      remaining: result.remaining,
    };
  }
}
