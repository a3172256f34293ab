/**
 * One sub-account: its balances, usage charts, its history as a timeline with the balance after
 * each entry, the balance as of any instant, and its own invoices when it pays them itself.
 */
import { api, query } from './api.js';
import { card, credits, entityTitle, errorBox, field, form, h, instant, replace, stat } from './dom.js';
import { downloadButton } from './download.js';
import { invoiceList } from './pages-billing.js';
import { actorName } from './pages-live.js';
import { renderUsage } from './pages-parent.js';

const HISTORY_PAGE = 50;

/** How each entry moves the sub-account's credits, for the timeline's wording. */
const ENTRY_KINDS = {
  SubAccountCreated: { label: 'Created', sign: '' },
  QuotaAllocated: { label: 'Quota allocated', sign: '+' },
  CreditsReturned: { label: 'Credits returned to the pool', sign: '−' },
  UsageRecorded: { label: 'Usage recorded', sign: '−' },
  UsageReversed: { label: 'Usage reversed', sign: '+' },
  CreditsExpired: { label: 'Credits expired', sign: '−' },
  SubAccountClosed: { label: 'Closed', sign: '' },
};

export async function subAccountPage(target, { ids: [parentId, subAccountId], params, me, signal }) {
  const base = `/v1/parents/${encodeURIComponent(parentId)}/sub-accounts/${encodeURIComponent(subAccountId)}`;
  const sub = await api(base, { signal });
  const usage = card('sub-usage-title', { wide: true });
  const asOf = card('as-of-title');
  const history = card('history-title', { wide: true });
  const invoices = card('sub-invoices-title', { wide: true });
  replace(
    target,
    entityTitle(sub.name, sub.id),
    me.role === 'sub-account'
      ? null
      : h(
          'p',
          {},
          h(
            'a',
            {
              href: `#/p/${encodeURIComponent(parentId)}/feed?subAccountId=${encodeURIComponent(subAccountId)}`,
            },
            'Its events, live',
          ),
        ),
    h(
      'div',
      { class: 'grid' },
      card(
        'balances-title',
        {},
        h('h2', { id: 'balances-title' }, 'Credits now'),
        h(
          'dl',
          { class: 'stats' },
          stat('Quota', credits(sub.quota), 'sub.quota'),
          stat('Used', credits(sub.used), 'sub.used'),
          stat('Remaining', credits(sub.remaining), 'sub.remaining'),
        ),
        h('meter', {
          min: 0,
          max: Math.max(sub.quota, 1),
          value: sub.used,
          'aria-label': `${credits(sub.used)} of ${credits(sub.quota)} used`,
        }),
        h(
          'p',
          { class: 'muted' },
          `${sub.status} · ${sub.billingModel}`,
          sub.pendingBillingModel ? ` (→ ${sub.pendingBillingModel} from ${sub.pendingEffectiveFrom})` : '',
          sub.region ? ` · ${sub.region}` : '',
          sub.creditPrice ? ` · ${sub.creditPrice} per credit` : '',
          ` · created ${instant(sub.createdAt)}`,
        ),
        Array.isArray(sub.expiring) && sub.expiring.length > 0
          ? h(
              'p',
              {},
              'Expiring: ',
              sub.expiring.map((item) => `${credits(item.credits)} at ${instant(item.expiresAt)}`).join('; '),
            )
          : null,
      ),
      asOf,
    ),
    usage,
    history,
    sub.billingModel === 'bill-to-sub-account' || sub.pendingBillingModel === 'bill-to-sub-account'
      ? invoices
      : null,
  );
  renderAsOf(asOf, base, signal);
  const work = [
    renderUsage(usage, `${base}/usage`, params, signal, 'sub-usage', `usage-${parentId}-${subAccountId}.csv`),
    renderHistory(history, base, params, signal, `history-${parentId}-${subAccountId}.csv`),
  ];
  if (invoices.isConnected) work.push(renderInvoices(invoices, base, signal));
  await Promise.all(work);
}

/** 'YYYY-MM-DDTHH:MM' of a datetime-local field, read as UTC. */
function utcInstant(value) {
  if (!value) return '';
  return `${value.length === 16 ? `${value}:00` : value}Z`;
}

function renderAsOf(section, base, signal) {
  const input = h('input', { type: 'datetime-local', name: 'asOf', step: 1, required: true });
  const answer = h('div', { 'aria-live': 'polite' });
  replace(
    section,
    h('h2', { id: 'as-of-title' }, 'Balance as of'),
    form(
      { class: 'inline' },
      async () => {
        try {
          const balance = await api(`${base}/balance${query({ asOf: utcInstant(input.value) })}`, {
            signal,
          });
          replace(
            answer,
            h(
              'dl',
              { class: 'stats', dataset: { asOf: balance.asOf } },
              stat('Quota', credits(balance.quota), 'asOf.quota'),
              stat('Used', credits(balance.used), 'asOf.used'),
              stat('Remaining', credits(balance.remaining), 'asOf.remaining'),
            ),
            h(
              'p',
              { class: 'muted' },
              `As of ${instant(balance.asOf)}`,
              balance.existed ? '' : ': the sub-account did not exist yet',
            ),
          );
        } catch (error) {
          replace(answer, errorBox(error));
        }
      },
      field('Instant (UTC)', input),
      h('button', { type: 'submit' }, 'Show balance'),
    ),
    answer,
  );
}

async function renderHistory(section, base, params, signal, filename) {
  const from = h('input', { type: 'datetime-local', name: 'history-from', step: 1 });
  const to = h('input', { type: 'datetime-local', name: 'history-to', step: 1 });
  const list = h('ol', { class: 'timeline', dataset: { list: 'history' } });
  const more = h('div', { class: 'pager' });
  let cursor;
  const load = async (reset) => {
    if (reset) {
      cursor = undefined;
      replace(list);
    }
    try {
      const page = await api(
        `${base}/history${query({ from: utcInstant(from.value), to: utcInstant(to.value), cursor, limit: params.get('limit') ?? HISTORY_PAGE })}`,
        { signal },
      );
      for (const entry of page.entries) list.append(timelineEntry(entry));
      if (list.childElementCount === 0) list.append(h('li', { class: 'empty' }, 'No entries in this range.'));
      cursor = page.nextCursor ?? undefined;
      replace(
        more,
        page.nextCursor
          ? h(
              'button',
              { type: 'button', class: 'secondary', onclick: () => void load(false) },
              'Show older entries',
            )
          : h('span', { class: 'muted' }, 'The beginning of this range.'),
      );
    } catch (error) {
      replace(more, errorBox(error));
    }
  };
  replace(
    section,
    h('h2', { id: 'history-title' }, 'History'),
    form(
      { class: 'inline', 'aria-label': 'History range' },
      () => {
        void load(true);
      },
      field('Recorded from (UTC, included)', from),
      field('Recorded before (UTC)', to),
      h('button', { type: 'submit' }, 'Filter'),
      downloadButton(
        () => `${base}/history${query({ from: utcInstant(from.value), to: utcInstant(to.value) })}`,
        filename,
        'Download this range as CSV',
      ),
    ),
    list,
    more,
  );
  await load(true);
}

function timelineEntry(entry) {
  const kind = ENTRY_KINDS[entry.type] ?? { label: entry.type, sign: '' };
  const after = entry.balancesAfter;
  return h(
    'li',
    {
      class: `entry entry-${entry.type}`,
      dataset: { type: entry.type, revision: String(entry.revision), remaining: String(after.remaining) },
    },
    h('time', { datetime: entry.recordedAt ?? '' }, instant(entry.recordedAt)),
    h(
      'div',
      { class: 'entry-body' },
      h(
        'p',
        { class: 'entry-title' },
        h('strong', {}, kind.label),
        entry.credits ? ` ${kind.sign}${credits(entry.credits)} credits` : '',
        entry.meter ? ` on ${entry.meter}` : '',
        entry.reason ? ` (${entry.reason})` : '',
        entry.late ? h('span', { class: 'badge late' }, 'late') : null,
      ),
      h(
        'p',
        { class: 'entry-balances' },
        'After: quota ',
        h('span', { dataset: { field: 'after.quota' } }, credits(after.quota)),
        ' · used ',
        h('span', { dataset: { field: 'after.used' } }, credits(after.used)),
        ' · remaining ',
        h('span', { dataset: { field: 'after.remaining' } }, credits(after.remaining)),
      ),
      h(
        'p',
        { class: 'entry-meta muted' },
        entry.actor ? `by ${actorName(entry.actor)}` : 'by —',
        entry.occurredAt && entry.occurredAt !== entry.recordedAt
          ? ` · occurred ${instant(entry.occurredAt)}`
          : '',
        entry.billingPeriod ? ` · period ${entry.billingPeriod}` : '',
        ' · correlation ',
        h('code', {}, entry.correlationId ?? '—'),
        entry.usageId ? [' · usage ', h('code', {}, entry.usageId)] : null,
      ),
    ),
  );
}

async function renderInvoices(section, base, signal) {
  replace(section, h('h2', { id: 'sub-invoices-title' }, 'Invoices'));
  try {
    const listing = await api(`${base}/invoices`, { signal });
    section.append(
      invoiceList(
        [...listing.invoices, ...(listing.draft ? [listing.draft] : [])],
        `${base}/invoices`,
        `invoices-${listing.subAccountId}.csv`,
      ),
    );
  } catch (error) {
    section.append(errorBox(error));
  }
}
