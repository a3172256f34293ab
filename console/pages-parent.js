/**
 * A parent's overview: its pool, its credit lots (when the service lists them), usage charts, and
 * its sub-accounts, searched by id and paged with the API's cursor, so a parent of 100,000
 * sub-accounts costs one page per screen.
 */
import { api, ApiError, query } from './api.js';
import { usageByDayChart, usageByMeterChart } from './charts.js';
import { downloadButton } from './download.js';
import {
  card,
  credits,
  entityTitle,
  errorBox,
  field,
  form,
  h,
  instant,
  replace,
  stat,
  table,
} from './dom.js';

const PAGE_SIZES = [25, 50, 100, 250];

export async function parentPage(target, { ids: [parentId], params, signal }) {
  const parent = await api(`/v1/parents/${encodeURIComponent(parentId)}`, { signal });
  const base = `/v1/parents/${encodeURIComponent(parentId)}`;
  const lots = card(
    'lots-title',
    {},
    h('h2', { id: 'lots-title' }, 'Credit lots'),
    h('p', { class: 'loading' }, 'Loading…'),
  );
  const usage = card('usage-title', { wide: true });
  const subAccounts = card('subs-title', { wide: true });
  replace(
    target,
    entityTitle(parent.name, parent.id),
    h(
      'div',
      { class: 'grid' },
      card(
        'pool-title',
        {},
        h('h2', { id: 'pool-title' }, 'Pool'),
        h(
          'dl',
          { class: 'stats' },
          stat('Purchased', credits(parent.pool.purchased), 'pool.purchased'),
          stat('Allocated', credits(parent.pool.allocated), 'pool.allocated'),
          stat('Available', credits(parent.pool.available), 'pool.available'),
          stat('Used', credits(parent.pool.used), 'pool.used'),
          parent.pool.expired === undefined
            ? null
            : stat('Expired', credits(parent.pool.expired), 'pool.expired'),
        ),
        poolBar(parent.pool),
        h(
          'p',
          { class: 'muted' },
          `Price ${parent.creditPrice} ${parent.currency} per credit`,
          parent.pendingCreditPrice
            ? ` (${parent.pendingCreditPrice} from ${parent.pendingEffectiveFrom})`
            : '',
          ` · opened ${instant(parent.openedAt)}`,
        ),
      ),
      lots,
    ),
    usage,
    subAccounts,
  );
  await Promise.all([
    renderLots(lots, base, signal),
    renderUsage(usage, `${base}/usage`, params, signal, 'usage', `usage-${parentId}.csv`),
    renderSubAccounts(subAccounts, parentId, params, signal),
  ]);
}

/** Allocated (used and unused) and available as one bar, with the numbers in its label. */
function poolBar(pool) {
  const total = Math.max(pool.purchased, 1);
  const used = (pool.used / total) * 100;
  const unused = ((pool.allocated - pool.used) / total) * 100;
  const usedPart = h('span', { class: 'bar-used' });
  const unusedPart = h('span', { class: 'bar-allocated' });
  // Set through the CSSOM: the content security policy refuses inline style attributes.
  usedPart.style.width = `${used.toFixed(2)}%`;
  unusedPart.style.width = `${unused.toFixed(2)}%`;
  return h(
    'div',
    {
      class: 'bar',
      role: 'img',
      'aria-label': `Of ${credits(pool.purchased)} purchased: ${credits(pool.used)} used, ${credits(pool.allocated - pool.used)} allocated but unused, ${credits(pool.available)} available`,
    },
    usedPart,
    unusedPart,
  );
}

async function renderLots(section, base, signal) {
  const title = h('h2', { id: 'lots-title' }, 'Credit lots');
  try {
    const answer = await api(`${base}/credits`, { signal });
    const lots = Array.isArray(answer) ? answer : (answer.lots ?? answer.items ?? []);
    replace(
      section,
      title,
      table(
        'Lots in burn order',
        [
          { label: 'Lot', rowHeader: true },
          { label: 'Kind' },
          { label: 'Credits', class: 'num' },
          { label: 'Remaining', class: 'num' },
          { label: 'Expires' },
          { label: 'Priority', class: 'num' },
          { label: 'Reference' },
        ],
        lots.map((lot) => ({
          cells: [
            lot.lotId,
            lot.kind,
            credits(lot.credits),
            credits(lot.remaining),
            lot.expiresAt ? instant(lot.expiresAt) : 'never',
            lot.priority,
            lot.reference ?? '',
          ],
          attributes: { dataset: { lot: lot.lotId } },
        })),
        { class: 'compact', dataset: { table: 'lots' } },
      ),
    );
  } catch (error) {
    // The parent was just read, so a 404 here is the route missing: a service without lots.
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      replace(
        section,
        title,
        h(
          'p',
          { class: 'muted', dataset: { field: 'lots.unavailable' } },
          'This service does not list credit lots (GET …/credits answers 404).',
        ),
      );
      return;
    }
    replace(section, title, errorBox(error));
  }
}

/**
 * Usage charts by day (stacked by meter) and by meter, with a range form. `path` is the parent's or
 * one sub-account's analytics route; both answer the same groups.
 */
export async function renderUsage(section, path, params, signal, prefix, filename) {
  const from = h('input', { type: 'date', name: `${prefix}-from`, value: params.get('from') ?? '' });
  const to = h('input', { type: 'date', name: `${prefix}-to`, value: params.get('to') ?? '' });
  const charts = h('div', { class: 'charts' }, h('p', { class: 'loading' }, 'Loading…'));
  const load = async () => {
    const range = { from: from.value, to: to.value };
    try {
      const [byDay, byMeter] = await Promise.all([
        api(`${path}${query({ ...range, groupBy: 'day,meter' })}`, { signal }),
        api(`${path}${query({ ...range, groupBy: 'meter' })}`, { signal }),
      ]);
      replace(charts, usageByDayChart(byDay, 'Usage by day'), usageByMeterChart(byMeter, 'Usage by meter'));
    } catch (error) {
      replace(charts, errorBox(error));
    }
  };
  replace(
    section,
    h('h2', { id: `${prefix}-title` }, 'Usage'),
    form(
      { class: 'inline', 'aria-label': 'Usage range' },
      () => {
        void load();
      },
      field('From (UTC day, included)', from),
      field('To (UTC day, excluded)', to),
      h('button', { type: 'submit' }, 'Show usage'),
      downloadButton(
        () => `${path}${query({ from: from.value, to: to.value, groupBy: 'day,meter' })}`,
        filename,
        'Download by day and meter as CSV',
      ),
    ),
    charts,
  );
  await load();
}

async function renderSubAccounts(section, parentId, params, signal) {
  const search = h('input', {
    type: 'search',
    name: 'idPrefix',
    value: params.get('q') ?? '',
    autocomplete: 'off',
    pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}',
  });
  const size = h(
    'select',
    { name: 'limit' },
    PAGE_SIZES.map((n) => h('option', { value: n, selected: n === 50 }, String(n))),
  );
  const results = h('div', { 'aria-live': 'polite' });
  // Cursors of the pages before this one, so Previous works with a forward-only cursor.
  const cursors = [];
  let cursor;
  const load = async () => {
    try {
      const page = await api(
        `/v1/parents/${encodeURIComponent(parentId)}/sub-accounts${query({ idPrefix: search.value.trim(), limit: size.value, cursor })}`,
        { signal },
      );
      const pageNumber = cursors.length + 1;
      replace(
        results,
        table(
          `Sub-accounts, page ${pageNumber}${search.value ? ` of ids starting with “${search.value.trim()}”` : ''}`,
          [
            { label: 'Id', rowHeader: true },
            { label: 'Name' },
            { label: 'Status' },
            { label: 'Billing' },
            { label: 'Quota', class: 'num' },
            { label: 'Used', class: 'num' },
            { label: 'Remaining', class: 'num' },
            { label: 'Used of quota' },
          ],
          page.items.map((item) => ({
            cells: [
              h(
                'a',
                { href: `#/p/${encodeURIComponent(parentId)}/s/${encodeURIComponent(item.id)}` },
                item.id,
              ),
              item.name,
              item.status,
              item.billingModel + (item.pendingBillingModel ? ` → ${item.pendingBillingModel}` : ''),
              credits(item.quota),
              credits(item.used),
              credits(item.remaining),
              h('meter', {
                min: 0,
                max: Math.max(item.quota, 1),
                value: item.used,
                'aria-label': `${item.id}: ${credits(item.used)} of ${credits(item.quota)} used`,
              }),
            ],
            attributes: {
              dataset: {
                subAccount: item.id,
                quota: String(item.quota),
                used: String(item.used),
                remaining: String(item.remaining),
              },
            },
          })),
          { dataset: { table: 'sub-accounts' } },
        ),
        h(
          'div',
          { class: 'pager' },
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              disabled: cursors.length === 0,
              onclick: () => {
                cursor = cursors.pop();
                void load();
              },
            },
            'Previous page',
          ),
          h('span', {}, `Page ${pageNumber}`),
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              disabled: !page.nextCursor,
              onclick: () => {
                cursors.push(cursor);
                cursor = page.nextCursor;
                void load();
              },
            },
            'Next page',
          ),
        ),
      );
    } catch (error) {
      replace(results, errorBox(error));
    }
  };
  replace(
    section,
    h('h2', { id: 'subs-title' }, 'Sub-accounts'),
    form(
      { class: 'inline', role: 'search', 'aria-label': 'Search sub-accounts' },
      () => {
        cursors.length = 0;
        cursor = undefined;
        void load();
      },
      field('Id starts with', search, 'Ids are case-sensitive; empty lists them all, in id order.'),
      field('Per page', size),
      h('button', { type: 'submit' }, 'Search'),
    ),
    results,
  );
  await load();
}
