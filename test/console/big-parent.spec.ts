import type { Page } from 'playwright-core';
import { expectStatus, openParent, type OpenedParent } from '../support/ledger-fixtures';
import { startTestService, type TestService } from '../support/service';
import { browserAvailability, launchBrowser, type Browser } from './browser';

/*
 * The console on a parent with many sub-accounts (SPEC §12: "fast at 100,000"): the overview shows
 * one page of the API's cursor, never the whole list, and the id search pages through its matches.
 * 2,000 in `npm test`; CONSOLE_BIG_PARENT_SUB_ACCOUNTS=100000 runs the same story at full size. The
 * times are printed for docs/console.md, never asserted.
 */
const SUB_ACCOUNTS = Number(process.env.CONSOLE_BIG_PARENT_SUB_ACCOUNTS ?? 2_000);
const BATCH = 1_000;

const availability = browserAvailability();
const describeInBrowser = availability.run ? describe : describe.skip;
if (!availability.run) {
  console.warn(availability.reason);
  it.skip(availability.reason, () => undefined);
}

const subId = (n: number) => `c-${String(n).padStart(6, '0')}`;

describeInBrowser(`the console on a parent of ${SUB_ACCOUNTS.toLocaleString('en-US')} sub-accounts`, () => {
  let service: TestService;
  let browser: Browser;
  let parent: OpenedParent;

  beforeAll(async () => {
    service = await startTestService();
    parent = await openParent(service, { credits: SUB_ACCOUNTS * 100 });
    for (let from = 0; from < SUB_ACCOUNTS; from += BATCH) {
      const subAccounts = Array.from({ length: Math.min(BATCH, SUB_ACCOUNTS - from) }, (_, i) => ({
        id: subId(from + i),
        name: `Client ${from + i}`,
        billingModel: 'bill-to-parent',
        quota: 100,
      }));
      const created = expectStatus(
        await service.api.post(`/v1/parents/${parent.id}/sub-accounts/batch`, { subAccounts }, parent.key),
        200,
      );
      expect(created.body.results.filter((result: { status: number }) => result.status !== 201)).toEqual([]);
    }
    browser = await launchBrowser();
  }, 1_800_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });

  const shownIds = (page: Page) =>
    page
      .locator('[data-table="sub-accounts"] tbody tr')
      .evaluateAll((trs) => trs.map((tr) => (tr as any).dataset.subAccount));

  async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const result = await work();
    console.log(
      `${label}: ${Number(process.hrtime.bigint() - started) / 1e6} ms at ${SUB_ACCOUNTS} sub-accounts`,
    );
    return result;
  }

  it('shows the first page, pages on with the cursor, and searches by id prefix', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${service.baseUrl}/console#/sign-in`);
    await page.getByLabel('Key or operator token').fill(parent.key);
    await timed('sign-in to the overview with its first page of sub-accounts', async () => {
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('[data-table="sub-accounts"] tbody tr[data-sub-account]').first().waitFor();
    });
    const first = await shownIds(page);
    expect(first).toEqual(Array.from({ length: 50 }, (_, i) => subId(i)));
    const api = await service.api.get(`/v1/parents/${parent.id}/sub-accounts?limit=50`, parent.key);
    expect(first).toEqual(api.body.items.map((item: { id: string }) => item.id));

    await timed('next page', async () => {
      await page.getByRole('button', { name: 'Next page' }).click();
      await page.locator(`[data-table="sub-accounts"] tr[data-sub-account="${subId(50)}"]`).waitFor();
    });
    expect(await shownIds(page)).toEqual(Array.from({ length: 50 }, (_, i) => subId(50 + i)));
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.locator(`[data-table="sub-accounts"] tr[data-sub-account="${subId(0)}"]`).waitFor();

    // The ids of the last full hundred (c-0019… at 2,000): a search whose matches fill two pages.
    const block = Math.floor((SUB_ACCOUNTS - 100) / 100) * 100;
    const prefix = subId(block).slice(0, -2);
    await page.getByLabel('Id starts with').fill(prefix);
    await timed(`search for ids starting with ${prefix}`, async () => {
      await page.getByRole('button', { name: 'Search' }).click();
      await page.locator(`[data-table="sub-accounts"] tr[data-sub-account="${subId(block)}"]`).waitFor();
    });
    expect(await shownIds(page)).toEqual(Array.from({ length: 50 }, (_, i) => subId(block + i)));
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.locator(`[data-table="sub-accounts"] tr[data-sub-account="${subId(block + 50)}"]`).waitFor();
    expect(await shownIds(page)).toEqual(Array.from({ length: 50 }, (_, i) => subId(block + 50 + i)));
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.close();
  });
});
