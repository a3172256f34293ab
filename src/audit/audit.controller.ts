import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { Roles } from '../auth/roles.decorator';
import { EVENT_STORE_CLIENT } from '../event-store/event-store-client.provider';
import { ApplicationError } from '../http/problem';
import { SubledgerError } from '../kernel/subledger-error';
import { ledgerStreamName } from '../ledger/domain';
import { verifyChain, type ChainVerification } from './audit-chain.verifier';
import { AuditVerifyQueryDto, ChainVerificationDto } from './audit.dto';

/** `GET /v1/parents/{p}/audit/verify`: the parent's audit chain recomputed from the log (operator). */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/parents/:p/audit')
export class AuditController {
  constructor(@Inject(EVENT_STORE_CLIENT) private readonly client: EventStoreDBClient) {}

  @Get('verify')
  @Roles('operator')
  @ApiOperation({
    summary:
      "Recompute the parent's tamper-evident audit chain from the event log and report the first event " +
      'whose link does not check out (docs/audit-chain.md)',
  })
  @ApiOkResponse({ type: ChainVerificationDto })
  async verify(
    @Param('p') parentId: string,
    @Query() query: AuditVerifyQueryDto,
  ): Promise<ChainVerification> {
    const from = query.from === undefined ? undefined : Number(query.from);
    const to = query.to === undefined ? undefined : Number(query.to);
    if (from !== undefined && to !== undefined && to < from) {
      throw new ApplicationError('validation_failed', `to (${to}) must not be before from (${from})`);
    }
    const verification = await verifyChain(this.client, ledgerStreamName(parentId), {
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
    });
    if (!verification)
      throw new SubledgerError('not_found', 'not_found', `parent ${parentId} does not exist`);
    return verification;
  }
}
