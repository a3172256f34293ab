import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyCheckedInCommand, OwnKeyRoute, Roles } from '../../auth/roles.decorator';
import { requireParent, requireSubAccount, subAccountBalances } from '../domain';
import { LedgerService } from '../application/ledger.service';
import { MeDto } from './dto/me.dto';
import { Context, type RequestContext } from '../../auth/request-context';

/**
 * `GET /v1/me`: any key asks who it is. A sub-account key also gets its quota, used and remaining,
 * so a client can show "credits left" knowing nothing but its key (SPEC §4). The answer comes from
 * the parent's current state in its queue, where the key is checked again (revoked → 401).
 */
@ApiTags('me')
@ApiBearerAuth()
@Controller('v1/me')
@KeyCheckedInCommand()
export class MeController {
  constructor(private readonly ledger: LedgerService) {}

  @Get()
  @Roles('operator', 'parent', 'sub-account')
  @OwnKeyRoute()
  @ApiOperation({
    summary: 'Who the key is (role, parent, sub-account); a sub-account key gets its credits left',
  })
  @ApiOkResponse({ type: MeDto })
  async me(@Context() context: RequestContext): Promise<MeDto> {
    const principal = context.principal;
    if (principal.role === 'operator') {
      return { role: 'operator', keyId: null, parent: null, subAccount: null };
    }
    const { result } = await this.ledger.read(context, principal.parentId, (state) => {
      const parent = requireParent(state);
      const sub = principal.role === 'sub-account' ? requireSubAccount(state, principal.subAccountId) : null;
      return {
        parent: { id: parent.id, name: parent.name, currency: parent.currency },
        subAccount: sub && {
          id: sub.id,
          name: sub.name,
          status: sub.status,
          ...subAccountBalances(sub),
        },
      };
    });
    return { role: principal.role, keyId: principal.keyId, ...result };
  }
}
