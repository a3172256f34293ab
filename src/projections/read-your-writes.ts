import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import type { RequestContext } from '../auth/request-context';
import { LedgerService } from '../ledger/application/ledger.service';
import type { LedgerState } from '../ledger/domain';
import { ReadModelProgress } from './read-model-progress';

/**
 * The step every route served by a projection takes first, so that a read right after a write
 * already shows it: through the parent's queue (the key is still active, `check` passes: the parent
 * or sub-account exists), which gives the stream's latest commit position, then a wait until every
 * read model has applied that position (`projection_lagging`, 503, past the configured
 * `readModels.readYourWritesTimeoutMs`).
 */
@Injectable()
export class ReadYourWrites {
  constructor(
    private readonly ledger: LedgerService,
    private readonly progress: ReadModelProgress,
    private readonly config: AppConfig,
  ) {}

  async catchUp(
    context: RequestContext,
    parentId: string,
    check: (state: LedgerState) => unknown,
  ): Promise<void> {
    const { commitPosition } = await this.ledger.read(context, parentId, (state) => {
      check(state);
      return null;
    });
    if (commitPosition !== undefined) {
      await this.progress.waitForPosition(commitPosition, this.config.readModels.readYourWritesTimeoutMs);
    }
  }
}
