/**
 * Invoices (lines, late and credit lines marked, CSV) and billing periods: the operator closes a
 * period and replays it, with what was issued and what the log recomputes side by side.
 */
import { api, query } from './api.js';
import { downloadButton } from './download.js';
import { announce, card, credits, errorBox, field, form, h, instant, replace, table } from './dom.js';

export async function invoicesPage(target, { ids: [parentId], params, signal, go }) {
  const base = `/v1/parents/${encodeURIComponent(parentId)}`;
  const period = params.get('period') ?? '';
  const [periods, listing] = await Promise.all([
    api(`${base}/billing-periods`, { signal }),
    api(`${base}/invoices${query({ period })}`, { signal }),
  ]);
  const select = h(
    'select',
    { name: 'period' },
    h('option', { value: '' }, 'every period'),
    [...periods.periods]
      .reverse()
      .map((item) =>
        h(
          'option',
          { value: item.period, selected: item.period === period },
          `${item.period} (${item.status})`,
        ),
      ),
  );
  const invoices = [...listing.invoices, ...(listing.draft?.invoices ?? [])];
  replace(
    target,
    h('h1', {}, 'Invoices'),
    form(
      { class: 'inline' },
      () => {
        go(`/p/${encodeURIComponent(parentId)}/invoices${query({ period: select.value })}`);
      },
      field('Billing period', select),
      h('button', { type: 'submit' }, 'Show'),
    ),
    invoiceList(
      invoices,
      `${base}/invoices${query({ period })}`,
      `invoices-${parentId}${period ? `-${period}` : ''}.csv`,
    ),
  );
}

/** The invoices, each with its lines, and a CSV download of the whole listing. */
export function invoiceList(invoices, csvPath, filename) {
  return h(
    'div',
    { class: 'invoices' },
    h('p', {}, `${invoices.length} invoice(s). `, downloadButton(csvPath, filename, 'Download all as CSV')),
    invoices.map(invoiceView),
  );
}

function invoiceView(invoice) {
  const draft = invoice.status === 'draft';
  const heading = draft ? `Draft for ${invoice.period}` : `Invoice ${invoice.number}`;
  return h(
    'article',
    {
      class: `card invoice${draft ? ' draft' : ''}`,
      dataset: { invoice: invoice.invoiceId, total: invoice.total },
    },
    h('h2', {}, heading, ' ', h('span', { class: `badge ${invoice.status}` }, invoice.status)),
    h(
      'p',
      { class: 'muted' },
      `Period ${invoice.period} · billed to ${invoice.billTo.type} ${invoice.billTo.id}`,
      draft ? ` · as of ${instant(invoice.asOf)}` : ` · issued ${instant(invoice.issuedAt)}`,
    ),
    invoice.sections.map((section) =>
      table(
        `${section.name} (${section.subAccountId}): subtotal ${section.subtotal} ${invoice.currency}`,
        [
          { label: 'Meter', rowHeader: true },
          { label: 'Kind' },
          { label: 'Credits', class: 'num' },
          { label: 'Unit price', class: 'num' },
          { label: `Amount (${invoice.currency})`, class: 'num' },
        ],
        [
          ...section.lines.map((line) => lineRow(line, 'usage')),
          ...section.lateLines.map((line) => lineRow(line, 'late')),
          ...(section.creditLines ?? []).map((line) => lineRow(line, 'credit')),
        ],
        { class: 'compact', dataset: { section: section.subAccountId } },
      ),
    ),
    h(
      'p',
      { class: 'invoice-total' },
      `Subtotal ${invoice.subtotal} · total `,
      h('strong', { dataset: { field: 'invoice.total' } }, `${invoice.total} ${invoice.currency}`),
      ' ',
      draft
        ? null
        : downloadButton(
            `/v1/parents/${encodeURIComponent(invoice.parentId)}/invoices/${encodeURIComponent(invoice.invoiceId)}`,
            `${invoice.invoiceId}.csv`,
            'CSV',
          ),
    ),
  );
}

/**
 * A line of usage; a late line (usage of a closed period, SPEC rule 8); or a credit line (a reversed
 * usage of an issued invoice, SPEC §10: a negative amount naming the invoice it corrects).
 */
function lineRow(line, kind) {
  const badge =
    kind === 'late'
      ? h('span', { class: 'badge late' }, `late, from ${line.originalPeriod}`)
      : kind === 'credit'
        ? h(
            'span',
            { class: 'badge credit' },
            `credit for ${line.originalInvoiceId} (${line.originalPeriod})`,
          )
        : 'usage';
  return {
    cells: [line.meter, badge, credits(line.credits), line.unitPrice, line.amount],
    attributes: {
      class: kind === 'usage' ? false : kind,
      dataset: { meter: line.meter, late: String(kind === 'late'), credit: String(kind === 'credit') },
    },
  };
}

export async function periodsPage(target, { ids: [parentId], me, signal }) {
  const base = `/v1/parents/${encodeURIComponent(parentId)}`;
  const operator = me.role === 'operator';
  const periodsTable = h('div', {});
  const result = card('result-title', { wide: true, live: true });
  const actions = {
    close: (period) => closePeriod({ base, parentId, period, result, signal, refresh }),
    replay: (period) => replayPeriod(base, period, result, signal),
  };
  async function refresh() {
    const { periods } = await api(`${base}/billing-periods`, { signal });
    replace(periodsTable, periodRows(parentId, periods, operator ? actions : null));
  }
  await refresh();
  replace(
    target,
    h('h1', {}, 'Billing periods'),
    operator
      ? null
      : h(
          'p',
          { class: 'muted' },
          'Closing and replaying periods is the operator’s; this key can read them.',
        ),
    periodsTable,
    result,
  );
}

/** The periods, newest first; with `actions` (the operator) a Close or Replay button on each. */
function periodRows(parentId, periods, actions) {
  const current = periods[periods.length - 1]?.period;
  return table(
    'Periods from the parent’s opening to now',
    [
      { label: 'Period', rowHeader: true },
      { label: 'Status' },
      { label: 'Closed' },
      { label: 'Invoices', class: 'num' },
      { label: 'Actions' },
    ],
    [...periods].reverse().map((item) => ({
      cells: [
        item.period,
        item.status,
        instant(item.closedAt),
        String(item.invoices),
        h(
          'div',
          { class: 'actions' },
          h('a', { href: `#/p/${encodeURIComponent(parentId)}/invoices?period=${item.period}` }, 'Invoices'),
          // The current period has not ended: the API would refuse to close it (period_not_ended).
          actions && item.status === 'open' && item.period !== current
            ? h(
                'button',
                { type: 'button', onclick: () => actions.close(item.period) },
                `Close ${item.period}`,
              )
            : null,
          actions && item.status === 'closed'
            ? h(
                'button',
                { type: 'button', class: 'secondary', onclick: () => actions.replay(item.period) },
                `Replay ${item.period}`,
              )
            : null,
        ),
      ],
      attributes: { dataset: { period: item.period, status: item.status } },
    })),
    { dataset: { table: 'periods' } },
  );
}

async function closePeriod({ base, parentId, period, result, signal, refresh }) {
  replace(result, h('h2', { id: 'result-title' }, `Closing ${period}…`));
  try {
    const closed = await api(`${base}/billing-periods/${period}/close`, { method: 'POST', signal });
    await refresh();
    replace(
      result,
      h('h2', { id: 'result-title' }, closed.closedNow ? `${period} closed` : `${period} was already closed`),
      h(
        'p',
        { dataset: { field: 'close.invoices' } },
        `${closed.invoices.length} invoice(s) issued, closed at ${instant(closed.closedAt)}.`,
      ),
      h(
        'p',
        {},
        h(
          'a',
          { href: `#/p/${encodeURIComponent(parentId)}/invoices?period=${period}` },
          `See the invoices of ${period}`,
        ),
      ),
    );
    announce(`${period} closed`);
  } catch (error) {
    replace(result, h('h2', { id: 'result-title' }, `Closing ${period} failed`), errorBox(error));
  }
}

async function replayPeriod(base, period, result, signal) {
  replace(result, h('h2', { id: 'result-title' }, `Replaying ${period}…`));
  try {
    const report = await api(`${base}/billing-periods/${period}/replay`, { signal });
    const recomputed = new Map(report.recomputed.map((invoice) => [invoice.invoiceId, invoice]));
    const ids = [...new Set([...report.issued.map((invoice) => invoice.invoiceId), ...recomputed.keys()])];
    const issued = new Map(report.issued.map((invoice) => [invoice.invoiceId, invoice]));
    replace(
      result,
      h('h2', { id: 'result-title' }, `Replay of ${period}`),
      h(
        'p',
        {
          class: report.matches ? 'ok' : 'error',
          dataset: { field: 'replay.matches', matches: String(report.matches) },
        },
        report.matches
          ? `Matches: the log recomputes the ${report.issued.length} issued invoice(s) exactly.`
          : `Differs: ${report.differences.length} difference(s) between what was issued and what the log recomputes.`,
      ),
      table(
        'Issued and recomputed, side by side',
        [
          { label: 'Invoice', rowHeader: true },
          { label: 'Issued total', class: 'num' },
          { label: 'Recomputed total', class: 'num' },
        ],
        ids.map((id) => ({
          cells: [id, issued.get(id)?.total ?? 'none', recomputed.get(id)?.total ?? 'none'],
          attributes: { class: issued.get(id)?.total === recomputed.get(id)?.total ? false : 'differs' },
        })),
        { dataset: { table: 'replay' } },
      ),
      report.differences.length === 0
        ? null
        : table(
            'Differences',
            [
              { label: 'Invoice', rowHeader: true },
              { label: 'Where' },
              { label: 'Issued' },
              { label: 'Recomputed' },
            ],
            report.differences.map((difference) => ({
              cells: [
                difference.invoiceId,
                h('code', {}, difference.path || '(whole invoice)'),
                show(difference.issued),
                show(difference.recomputed),
              ],
            })),
            { dataset: { table: 'differences' } },
          ),
    );
    announce(`Replay of ${period}: ${report.matches ? 'matches' : 'differs'}`);
  } catch (error) {
    replace(result, h('h2', { id: 'result-title' }, `Replaying ${period} failed`), errorBox(error));
  }
}

function show(value) {
  if (value === undefined) return h('span', { class: 'muted' }, 'absent');
  return h('code', {}, typeof value === 'string' ? value : JSON.stringify(value));
}
