import { AllocateQuotaHandler } from './allocate-quota.handler';
import { CloseBillingPeriodHandler } from './close-billing-period.handler';
import { CloseSubAccountHandler } from './close-sub-account.handler';
import { CreateSubAccountHandler } from './create-sub-account.handler';
import { CreateSubAccountsBatchHandler } from './create-sub-accounts-batch.handler';
import { IssueApiKeyHandler } from './issue-api-key.handler';
import { OpenParentAccountHandler } from './open-parent-account.handler';
import { PurchaseCreditsHandler } from './purchase-credits.handler';
import { RecordUsageBatchHandler } from './record-usage-batch.handler';
import { RecordUsageHandler } from './record-usage.handler';
import { ReturnCreditsHandler } from './return-credits.handler';
import { ReverseUsageHandler } from './reverse-usage.handler';
import { RevokeApiKeyHandler } from './revoke-api-key.handler';
import { SetQuotaHandler } from './set-quota.handler';
import { SetRecurringAllocationHandler } from './set-recurring-allocation.handler';
import { UpdateParentAccountHandler } from './update-parent-account.handler';
import { UpdateSubAccountHandler } from './update-sub-account.handler';

export { LedgerCommandMessage } from './ledger-command-message';
export { AllocateQuotaCommand } from './allocate-quota.handler';
export { CloseBillingPeriodCommand } from './close-billing-period.handler';
export { CloseSubAccountCommand } from './close-sub-account.handler';
export { CreateSubAccountCommand } from './create-sub-account.handler';
export { CreateSubAccountsBatchCommand } from './create-sub-accounts-batch.handler';
export { IssueApiKeyCommand, type IssuedApiKey } from './issue-api-key.handler';
export { OpenParentAccountCommand } from './open-parent-account.handler';
export { PurchaseCreditsCommand } from './purchase-credits.handler';
export { RecordUsageBatchCommand } from './record-usage-batch.handler';
export { RecordUsageCommand } from './record-usage.handler';
export { ReturnCreditsCommand } from './return-credits.handler';
export { ReverseUsageCommand } from './reverse-usage.handler';
export { RevokeApiKeyCommand } from './revoke-api-key.handler';
export { SetQuotaCommand } from './set-quota.handler';
export { SetRecurringAllocationCommand } from './set-recurring-allocation.handler';
export { UpdateParentAccountCommand } from './update-parent-account.handler';
export { UpdateSubAccountCommand } from './update-sub-account.handler';

/** One `@CommandHandler` per ledger command, each handing its decision to the ledger's processor. */
export const LEDGER_COMMAND_HANDLERS = [
  OpenParentAccountHandler,
  PurchaseCreditsHandler,
  UpdateParentAccountHandler,
  CreateSubAccountHandler,
  CreateSubAccountsBatchHandler,
  UpdateSubAccountHandler,
  SetQuotaHandler,
  AllocateQuotaHandler,
  ReturnCreditsHandler,
  RecordUsageHandler,
  RecordUsageBatchHandler,
  CloseSubAccountHandler,
  IssueApiKeyHandler,
  RevokeApiKeyHandler,
  CloseBillingPeriodHandler,
  SetRecurringAllocationHandler,
  ReverseUsageHandler,
];
