import { expectStatus, type OpenedParent } from '../../support/ledger-fixtures';
import type { TestService } from '../../support/service';

/*
 * Set-up shared by the billing API tests: everything through real HTTP, as a parent or operator
 * would do it.
 */

export async function openPricedParent(
  service: TestService,
  id: string,
  currency: string,
  creditPrice: string,
): Promise<OpenedParent> {
  const opened = expectStatus(
    await service.api.post(
      '/v1/parents',
      { id, name: `Parent ${id}`, currency, creditPrice },
      service.operatorToken,
    ),
    201,
  );
  expectStatus(
    await service.api.post(`/v1/parents/${id}/credits`, { credits: 1_000_000 }, service.operatorToken),
    200,
    201,
  );
  const apiKey = opened.body.apiKey as { id: string; secret: string };
  return { id, key: apiKey.secret, keyId: apiKey.id };
}

export async function createPricedSub(
  service: TestService,
  parent: OpenedParent,
  id: string,
  billingModel: 'bill-to-parent' | 'bill-to-sub-account',
  creditPrice?: string,
): Promise<void> {
  expectStatus(
    await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts`,
      { id, name: `Sub ${id}`, billingModel, quota: 10_000, ...(creditPrice ? { creditPrice } : {}) },
      // Prices are the operator's: only the operator may create a sub-account with its own price.
      creditPrice ? service.operatorToken : parent.key,
    ),
    201,
  );
}

let keyCounter = 0;

export async function use(
  service: TestService,
  parent: OpenedParent,
  subAccountId: string,
  credits: number,
  meter = 'api',
  occurredAt?: string,
): Promise<{ usageId: string }> {
  const response = expectStatus(
    await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
      {
        idempotencyKey: `k-${process.pid}-${++keyCounter}`,
        credits,
        meter,
        ...(occurredAt ? { occurredAt } : {}),
      },
      parent.key,
    ),
    201,
  );
  return response.body as { usageId: string };
}

/** The comparable part of an invoice: who is billed and what, by line. */
export function summary(invoice: any) {
  return {
    invoiceId: invoice.invoiceId,
    number: invoice.number,
    totalMinor: invoice.totalMinor,
    total: invoice.total,
    sections: invoice.sections.map((section: any) => ({
      subAccountId: section.subAccountId,
      lines: section.lines.map((line: any) => [line.meter, line.unitPrice, line.credits, line.amountMinor]),
      lateLines: section.lateLines.map((line: any) => [
        line.originalPeriod,
        line.meter,
        line.unitPrice,
        line.credits,
        line.amountMinor,
        line.usage.map((usage: any) => usage.occurredAt),
      ]),
      subtotalMinor: section.subtotalMinor,
    })),
  };
}
