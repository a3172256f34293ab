import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { expectStatus, openParent, uniqueId, type OpenedParent } from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import { startTestService, type TestService } from '../support/service';
import { browserAvailability, launchBrowser, type Browser } from './browser';

// The browser's globals, named only inside functions that run in the page (page.evaluate and
// waitForFunction): the project compiles without the DOM library.
declare const document: any;
declare const window: any;
declare const sessionStorage: any;

/*
 * The console (SPEC §12) in Debian's chromium against the started service, with data made through
 * the API: each kind of key signs in, the main pages are walked, and what they show is checked
 * against the API's own answers. Screenshots go to a temporary folder (printed at the end);
 * CONSOLE_SCREENSHOTS=docs/console also copies them there for docs/console.md.
 */

const availability = browserAvailability();
if (!availability.run) console.warn(availability.reason);
const describeInBrowser = availability.run ? describe : describe.skip;

const OPENED = '2026-10-29T08:00:00Z';
const NOW = '2026-11-03T12:00:00Z';
const SHOTS = mkdtempSync(path.join(tmpdir(), 'subledger-console-shots-'));

const fmt = (n: number | string) => Number(n).toLocaleString('en-US');

describeInBrowser('the console in a browser', () => {
  let service: TestService;
  let browser: Browser;
  let parent: OpenedParent;
  let shopAKey: string;
  let shopBKey: string;

  const v1 = (suffix = '') => `/v1/parents/${parent.id}${suffix}`;

  async function apiGet(pathname: string, token = service.operatorToken): Promise<any> {
    return expectStatus(await service.api.get(pathname, token), 200).body;
  }

  async function record(
    subAccountId: string,
    credits: number,
    meter: string,
    occurredAt: string,
  ): Promise<void> {
    expectStatus(
      await service.api.post(
        v1(`/sub-accounts/${subAccountId}/usage`),
        { idempotencyKey: uniqueId('u'), credits, meter, occurredAt },
        parent.key,
      ),
      201,
    );
  }

  beforeAll(async () => {
    // Usage may not predate its sub-account: the accounts are made in October, then the service
    // restarts over the same data in November (SPEC §8) and October's usage arrives.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'subledger-console-data-'));
    service = await startTestService({ now: OPENED, dataDir });
    parent = await openParent(service, { credits: 20_000, name: 'Acme Agency', creditPrice: '0.01' });
    for (const [id, billingModel, quota] of [
      ['shop-a', 'bill-to-parent', 8_000],
      ['shop-b', 'bill-to-sub-account', 3_000],
      ['studio-c', 'bill-to-parent', 1_000],
    ] as const) {
      expectStatus(
        await service.api.post(
          v1('/sub-accounts'),
          { id, name: `Client ${id}`, billingModel, quota },
          parent.key,
        ),
        201,
      );
    }
    const operatorToken = service.operatorToken;
    await service.close();
    service = await startTestService({ now: NOW, dataDir, operatorToken });
    await record('shop-a', 2_000, 'images', '2026-10-30T10:00:00Z');
    await record('shop-a', 500, 'video', '2026-10-31T09:00:00Z');
    await record('shop-a', 300, 'images', '2026-11-02T08:00:00Z');
    await record('shop-b', 400, 'images', '2026-10-30T11:00:00Z');
    expectStatus(await service.api.put(v1('/sub-accounts/shop-a/quota'), { quota: 6_000 }, parent.key), 200);
    shopAKey = expectStatus(await service.api.post(v1('/sub-accounts/shop-a/api-keys'), {}, parent.key), 201)
      .body.secret;
    shopBKey = expectStatus(await service.api.post(v1('/sub-accounts/shop-b/api-keys'), {}, parent.key), 201)
      .body.secret;
    // The read models catch up on their own; the pages are checked once they have.
    await pollUntil(
      () => service.api.get(v1('/sub-accounts/shop-a/history'), parent.key),
      (answer) => answer.status === 200 && answer.body.entries.at(-1)?.type === 'CreditsReturned',
    );
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    console.log(`console screenshots: ${SHOTS}`);
  });

  /** Uncaught errors of the page's own scripts: each test ends with none. */
  const pageErrors: Error[] = [];
  afterEach(() => {
    const errors = pageErrors.splice(0);
    expect(errors.map((error) => error.message)).toEqual([]);
  });

  async function newPage(): Promise<Page> {
    const page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error));
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${service.baseUrl}/console#/sign-in`);
    await page.getByLabel('Key or operator token').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForFunction(() => !/sign-in/.test(window.location.hash) && window.location.hash !== '#/');
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    const docs = process.env.CONSOLE_SCREENSHOTS;
    if (docs) {
      mkdirSync(docs, { recursive: true });
      copyFileSync(path.join(SHOTS, `${name}.png`), path.join(docs, `${name}.png`));
    }
  }

  const text = (page: Page, selector: string) => page.locator(selector).first().innerText();
  /** Clicks a download button and reads what the browser saved. */
  async function download(page: Page, button: string): Promise<{ filename: string; text: string }> {
    const [saved] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: button }).click(),
    ]);
    const file = path.join(browser.downloads, saved.suggestedFilename());
    await saved.saveAs(file);
    return { filename: saved.suggestedFilename(), text: readFileSync(file, 'utf8') };
  }
  /** The API's own CSV answer for a route. */
  async function apiCsv(pathname: string, token = service.operatorToken): Promise<string> {
    const answer = await service.api.request('GET', pathname, { token, headers: { accept: 'text/csv' } });
    return expectStatus(answer, 200).body;
  }
  /** The data-* attributes of each element the selector finds, as the page set them. */
  const datasets = (page: Page, selector: string) =>
    page
      .locator(selector)
      .evaluateAll((elements) => elements.map((element) => ({ ...(element as any).dataset })));
  /** The text of each cell of each row the selector finds. */
  const cellTexts = (page: Page, selector: string) =>
    page
      .locator(selector)
      .evaluateAll((rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent)));

  it('serves the page and its assets from the service itself, with a strict content security policy', async () => {
    const page = await service.api.get('/console');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.body).not.toMatch(/https?:\/\//);
    const chart = await service.api.get('/console/vendor/chart.umd.min.js');
    expect(chart.status).toBe(200);
    expect(chart.headers.get('content-type')).toMatch(/javascript/);
    expect((await service.api.get('/console/nope.js')).status).toBe(404);
  });

  it('refuses a key that is not one, and keeps nothing', async () => {
    const page = await newPage();
    await page.goto(`${service.baseUrl}/console`);
    await page.getByLabel('Key or operator token').fill('sk_not_a_key');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('alert').innerText()).resolves.toMatch(/not valid/);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.close();
  });

  it('operator: the overview shows the pool, sub-accounts and usage exactly as the API answers', async () => {
    const page = await newPage();
    await signIn(page, service.operatorToken);
    expect(page.url()).toMatch(/#\/operator$/);
    await page.getByLabel('Parent account id').fill(parent.id);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.locator('[data-table="sub-accounts"] tbody tr[data-sub-account]').first().waitFor();
    await page.locator('[data-chart="usage-by-day"] canvas').waitFor();

    const api = await apiGet(v1());
    for (const name of ['purchased', 'allocated', 'available', 'used'] as const) {
      expect(await text(page, `[data-field="pool.${name}"]`)).toBe(fmt(api.pool[name]));
    }
    expect(api.pool).toMatchObject({ purchased: 20_000, allocated: 10_000, available: 10_000, used: 3_200 });

    const listed = await apiGet(v1('/sub-accounts'));
    const rows = await datasets(page, '[data-table="sub-accounts"] tbody tr');
    expect(rows).toEqual(
      listed.items.map((item: any) => ({
        subAccount: item.id,
        quota: String(item.quota),
        used: String(item.used),
        remaining: String(item.remaining),
      })),
    );

    // The chart's table holds the same groups as the analytics API.
    const byDay = await apiGet(v1('/usage?groupBy=day,meter'));
    const charted = await datasets(page, '[data-chart="usage-by-day"] tbody tr');
    expect(charted).toEqual(
      byDay.groups.map((group: any) => ({
        day: group.day,
        meter: group.meter,
        credits: String(group.credits),
      })),
    );
    expect(await text(page, '[data-field="usage.total"]')).toBe(fmt(byDay.total.credits));
    expect(await download(page, 'Download by day and meter as CSV')).toEqual({
      filename: `usage-${parent.id}.csv`,
      text: await apiCsv(v1('/usage?groupBy=day,meter')),
    });
    await shot(page, 'overview');

    // Search by id prefix goes through the API's idPrefix, one page of matches.
    await page.getByLabel('Id starts with').fill('shop-');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForFunction(
      () => document.querySelectorAll('[data-table="sub-accounts"] tbody tr').length === 2,
    );
    const found = await datasets(page, '[data-table="sub-accounts"] tbody tr');
    expect(found.map((row) => row.subAccount)).toEqual(['shop-a', 'shop-b']);
    await page.close();
  });

  it('operator: closes a period, replays it side by side, and lists its invoices with CSV', async () => {
    const page = await newPage();
    await signIn(page, service.operatorToken);
    await page.goto(`${service.baseUrl}/console#/p/${parent.id}/periods`);
    await page.getByRole('button', { name: 'Close 2026-10' }).click();
    await page.getByRole('heading', { name: '2026-10 closed' }).waitFor();
    const periods = await apiGet(v1('/billing-periods'));
    expect(periods.periods.find((item: any) => item.period === '2026-10')).toMatchObject({
      status: 'closed',
      invoices: 2,
    });
    expect(await text(page, '[data-field="close.invoices"]')).toMatch(/^2 invoice/);

    await page.getByRole('button', { name: 'Replay 2026-10' }).first().click();
    await page.locator('[data-field="replay.matches"]').waitFor();
    const replay = await apiGet(v1('/billing-periods/2026-10/replay'));
    expect(await page.locator('[data-field="replay.matches"]').getAttribute('data-matches')).toBe(
      String(replay.matches),
    );
    expect(replay.matches).toBe(true);
    const sideBySide = await cellTexts(page, '[data-table="replay"] tbody tr');
    expect(sideBySide).toEqual(
      replay.issued.map((invoice: any) => [invoice.invoiceId, invoice.total, invoice.total]),
    );
    await shot(page, 'replay');

    // A replay that differs: the service's cannot without corrupting its log, so this one answer is
    // altered on its way to the page (the real answer, one recomputed total changed) to check that
    // the page lays the difference out side by side.
    const replayRoute = `**${v1('/billing-periods/2026-10/replay')}`;
    await page.route(replayRoute, async (route) => {
      const response = await route.fetch();
      const report = await response.json();
      const [first, ...rest] = report.recomputed;
      await route.fulfill({
        response,
        json: {
          ...report,
          matches: false,
          recomputed: [{ ...first, total: '99.99' }, ...rest],
          differences: [
            { invoiceId: first.invoiceId, path: 'total', issued: first.total, recomputed: '99.99' },
          ],
        },
      });
    });
    await page.getByRole('button', { name: 'Replay 2026-10' }).first().click();
    await page.locator('[data-table="differences"]').waitFor();
    expect(await page.locator('[data-field="replay.matches"]').getAttribute('data-matches')).toBe('false');
    const differing = await cellTexts(page, '[data-table="replay"] tbody tr.differs');
    expect(differing).toEqual([[replay.issued[0].invoiceId, replay.issued[0].total, '99.99']]);
    expect(await cellTexts(page, '[data-table="differences"] tbody tr')).toEqual([
      [replay.issued[0].invoiceId, 'total', replay.issued[0].total, '99.99'],
    ]);
    await shot(page, 'replay-differences');
    await page.unroute(replayRoute);

    await page.goto(`${service.baseUrl}/console#/p/${parent.id}/invoices?period=2026-10`);
    await page.locator('article[data-invoice]').first().waitFor();
    const listing = await apiGet(v1('/invoices?period=2026-10'));
    const shown = await datasets(page, 'article[data-invoice]');
    expect(shown.map(({ invoice, total }) => [invoice, total])).toEqual(
      listing.invoices.map((invoice: any) => [invoice.invoiceId, invoice.total]),
    );
    await shot(page, 'invoices');

    expect(await download(page, 'Download all as CSV')).toEqual({
      filename: `invoices-${parent.id}-2026-10.csv`,
      text: await apiCsv(v1('/invoices?period=2026-10')),
    });

    // Usage of October that arrives after the close is billed in November, marked late (rule 8).
    await record('studio-c', 120, 'images', '2026-10-31T20:00:00Z');
    await page.goto(`${service.baseUrl}/console#/p/${parent.id}/invoices?period=2026-11`);
    const late = page.locator('tr[data-late="true"]');
    await late.first().waitFor();
    expect(await late.first().innerText()).toMatch(/late, from 2026-10[\s\S]*120/);
    const draft = await apiGet(v1('/invoices?period=2026-11'));
    const lateLines = draft.draft.invoices.flatMap((invoice: any) =>
      invoice.sections.flatMap((section: any) => section.lateLines),
    );
    expect(await late.count()).toBe(lateLines.length);
    await shot(page, 'invoices-late');
    await page.close();
  });

  it('parent key: a sub-account’s timeline has the balance after each entry, and the balance as of an instant', async () => {
    const page = await newPage();
    await signIn(page, parent.key);
    expect(page.url()).toMatch(new RegExp(`#/p/${parent.id}$`));
    expect(await page.getByRole('link', { name: 'Parents' }).count()).toBe(0);
    await page.getByRole('link', { name: 'shop-a', exact: true }).click();
    await page.locator('[data-list="history"] li[data-type]').first().waitFor();

    const history = await apiGet(v1('/sub-accounts/shop-a/history'), parent.key);
    const timeline = (await datasets(page, '[data-list="history"] li[data-type]')).map(
      ({ type, remaining }) => [type, remaining],
    );
    expect(timeline).toEqual(
      history.entries.map((entry: any) => [entry.type, String(entry.balancesAfter.remaining)]),
    );
    expect(timeline.map(([type]) => type)).toEqual([
      'SubAccountCreated',
      'QuotaAllocated',
      'UsageRecorded',
      'UsageRecorded',
      'UsageRecorded',
      'CreditsReturned',
    ]);
    const sub = await apiGet(v1('/sub-accounts/shop-a'), parent.key);
    expect(await text(page, '[data-field="sub.remaining"]')).toBe(fmt(sub.remaining));

    // An instant inside the history (to the second, as the form takes it): the page and the API agree.
    const asOf = history.entries[3].recordedAt as string;
    await page.getByLabel('Instant (UTC)').fill(asOf.slice(0, 19));
    await page.getByRole('button', { name: 'Show balance' }).click();
    await page.locator('[data-field="asOf.remaining"]').waitFor();
    const balance = await apiGet(v1(`/sub-accounts/shop-a/balance?asOf=${asOf.slice(0, 19)}Z`), parent.key);
    expect(await text(page, '[data-field="asOf.quota"]')).toBe(fmt(balance.quota));
    expect(await text(page, '[data-field="asOf.used"]')).toBe(fmt(balance.used));
    expect(await text(page, '[data-field="asOf.remaining"]')).toBe(fmt(balance.remaining));
    expect(await download(page, 'Download this range as CSV')).toEqual({
      filename: `history-${parent.id}-shop-a.csv`,
      text: await apiCsv(v1('/sub-accounts/shop-a/history'), parent.key),
    });
    await shot(page, 'sub-account');

    // The sub-account's charts are its analytics.
    const byMeter = await apiGet(v1('/sub-accounts/shop-a/usage?groupBy=meter'), parent.key);
    const meters = (await datasets(page, '[data-chart="usage-by-meter"] tbody tr')).map(
      ({ meter, credits }) => [meter, credits] as const,
    );
    expect(new Map(meters)).toEqual(
      new Map(byMeter.groups.map((group: any) => [group.meter, String(group.credits)])),
    );

    // Its events, live: the feed filtered to this sub-account.
    await page.getByRole('link', { name: 'Its events, live' }).click();
    await page.getByText('Live: connected.').waitFor();
    await page.locator('[data-list="feed"] li').first().waitFor();
    const feedItems = await page.locator('[data-list="feed"] li').allInnerTexts();
    expect(feedItems.every((item) => item.includes('sub-account shop-a'))).toBe(true);
    await page.close();
  });

  it('parent key: the live feed shows an event as soon as it is recorded', async () => {
    const page = await newPage();
    await signIn(page, parent.key);
    await page.getByRole('link', { name: 'Live feed' }).click();
    await page.getByText('Live: connected.').waitFor();
    // The stream stays open, but the page is done loading: titled, and the focus on its content.
    await page.waitForFunction(() => document.title === 'Live feed · Subledger');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    const before = await page.locator('[data-list="feed"] li').count();
    expect(before).toBeGreaterThan(0);
    await record('studio-c', 77, 'live-meter', '2026-11-03T12:00:00Z');
    const item = page.locator('[data-list="feed"] li[data-type="UsageRecorded"]', { hasText: 'live-meter' });
    await item.waitFor();
    expect(await item.innerText()).toContain('77 credits');
    const events = await apiGet(v1('/events?types=UsageRecorded&subAccountId=studio-c'), parent.key);
    expect(await item.getAttribute('data-cursor')).toBe(events.events.at(-1).cursor);
    await shot(page, 'feed');

    await page.close();
  });

  it('parent key: webhook endpoints and their deliveries as the API lists them', async () => {
    // A name that never resolves (.invalid) is accepted; its sends fail and are retried.
    const endpoint = expectStatus(
      await service.api.post(
        v1('/webhook-endpoints'),
        { url: 'https://hooks.example.invalid/subledger', description: 'Finance hook' },
        parent.key,
      ),
      201,
    ).body;
    await record('studio-c', 5, 'hooked', '2026-11-03T12:00:00Z');
    const deliveriesPath = v1(`/webhook-endpoints/${endpoint.id}/deliveries`);
    const listed = await pollUntil(
      () => apiGet(deliveriesPath, parent.key),
      (answer) => answer.deliveries.length > 0,
    );

    const page = await newPage();
    await signIn(page, parent.key);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    const row = page.locator(`[data-table="webhook-endpoints"] tr[data-endpoint="${endpoint.id}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain('https://hooks.example.invalid/subledger');
    await row.getByRole('button', { name: 'Show deliveries' }).click();
    await page.locator('[data-table="webhook-deliveries"] tbody tr[data-delivery]').first().waitFor();
    const shown = await datasets(page, '[data-table="webhook-deliveries"] tbody tr[data-delivery]');
    const now = await apiGet(deliveriesPath, parent.key);
    expect(shown.map((delivery) => delivery.delivery)).toEqual(
      now.deliveries.map((delivery: any) => delivery.id),
    );
    expect(shown.map((delivery) => delivery.delivery)).toEqual(
      expect.arrayContaining(listed.deliveries.map((delivery: any) => delivery.id)),
    );
    await shot(page, 'webhooks');
    await page.close();
  });

  it('sub-account key: sees its own credits and invoices, and never another sub-account or the parent', async () => {
    const page = await newPage();
    await signIn(page, shopBKey);
    expect(page.url()).toMatch(new RegExp(`#/p/${parent.id}/s/shop-b$`));
    await page.locator('[data-field="sub.remaining"]').waitFor();
    const me = await apiGet('/v1/me', shopBKey);
    expect(await text(page, '[data-field="sub.remaining"]')).toBe(fmt(me.subAccount.remaining));
    await page.locator('article[data-invoice]').first().waitFor();
    const own = await apiGet(v1('/sub-accounts/shop-b/invoices'), shopBKey);
    expect(await page.locator('article[data-invoice]').count()).toBe(
      own.invoices.length + (own.draft ? 1 : 0),
    );
    expect(await page.getByRole('link', { name: 'Overview' }).count()).toBe(0);
    await shot(page, 'sub-account-key');

    for (const hash of [
      `#/p/${parent.id}/s/shop-a`,
      `#/p/${parent.id}`,
      `#/p/${parent.id}/invoices`,
      `#/p/${parent.id}/feed`,
    ]) {
      await page.goto(`${service.baseUrl}/console${hash}`);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.innerText()).toMatch(/^(404|403)/);
      expect(await page.locator('[data-field^="sub."], [data-field^="pool."]').count()).toBe(0);
    }
    await page.close();

    // shop-a's own key, the same way, cannot see shop-b.
    const other = await newPage();
    await signIn(other, shopAKey);
    await other.goto(`${service.baseUrl}/console#/p/${parent.id}/s/shop-b`);
    await other.getByRole('alert').waitFor();
    expect(await other.getByRole('alert').innerText()).toMatch(/^404/);
    await other.close();
  });

  it('works from the keyboard alone, with every control labelled', async () => {
    const page = await newPage();
    await page.goto(`${service.baseUrl}/console`);
    await page.getByLabel('Key or operator token').waitFor();
    // The key field has the focus on arrival; Enter submits.
    await page.keyboard.type(parent.key);
    await page.keyboard.press('Enter');
    await page.locator('[data-table="sub-accounts"] tbody tr[data-sub-account]').first().waitFor();
    // The page announces itself once everything on it has loaded, and then moves the focus to its
    // content: tabbing from the top before that races it (seen on a loaded machine).
    await page.waitForFunction(() => {
      const title = document.querySelector('#main h1')?.textContent;
      return Boolean(title) && document.getElementById('announcer')?.textContent === `${title} loaded`;
    });
    // Tab from the top of the page: the skip link first, then the navigation.
    await page.evaluate(() => {
      document.body.tabIndex = -1;
      document.body.focus();
    });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'Invoices'; i += 1) {
      await page.keyboard.press('Tab');
      focused = (await page.evaluate(() => document.activeElement?.textContent)) ?? '';
    }
    expect(focused).toBe('Invoices');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.location.hash.endsWith('/invoices'));
    await page.locator('h1', { hasText: 'Invoices' }).waitFor();

    const unlabelled = await page.evaluate(
      () =>
        [...document.querySelectorAll('input, select')].filter(
          (control) => (control as any).labels?.length === 0,
        ).length,
    );
    expect(unlabelled).toBe(0);
    await page.close();
  });
});

if (!availability.run) {
  it.skip(availability.reason, () => undefined);
}
