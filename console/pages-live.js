/* global setTimeout, window */
/**
 * The parent's event feed, live (SSE read with fetch, so the key travels in the Authorization
 * header), and its webhook endpoints with their deliveries when the service has them.
 */
import { api, ApiError, query, readEventStream } from './api.js';
import { card, credits, errorBox, field, form, h, instant, replace, table } from './dom.js';

/** The page keeps this many events; older ones leave the list as new ones come. */
const KEPT_EVENTS = 200;

export async function feedPage(target, { ids: [parentId], params, signal }) {
  const base = `/v1/parents/${encodeURIComponent(parentId)}`;
  // Reading one page first answers 404 at once for a parent the key may not see.
  const recent = await api(`${base}/events${query({ limit: 1 })}`, { signal });
  const status = h(
    'p',
    { class: 'feed-status', role: 'status', dataset: { field: 'feed.status' } },
    'Connecting…',
  );
  const list = h('ol', { class: 'feed', reversed: true, dataset: { list: 'feed' } });
  const subAccount = h('input', {
    type: 'text',
    name: 'subAccountId',
    value: params.get('subAccountId') ?? '',
    autocomplete: 'off',
  });
  let paused = false;
  const pause = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      'aria-pressed': 'false',
      onclick: () => {
        paused = !paused;
        pause.setAttribute('aria-pressed', String(paused));
        pause.textContent = paused ? 'Resume list' : 'Pause list';
      },
    },
    'Pause list',
  );
  replace(
    target,
    h('h1', {}, 'Live feed'),
    h(
      'p',
      { class: 'muted' },
      `Every event of ${parentId} as it is committed (GET …/events with Accept: text/event-stream). `,
      'Starts from the last 20 events; the newest is at the top.',
    ),
    form(
      { class: 'inline' },
      () => {
        window.location.hash = `#/p/${encodeURIComponent(parentId)}/feed${query({ subAccountId: subAccount.value.trim() })}`;
      },
      field('Only sub-account', subAccount),
      h('button', { type: 'submit' }, 'Filter'),
      pause,
    ),
    status,
    list,
  );
  const head = recent.events.length === 0 ? null : await lastRevision(base, signal);
  let after = head === null || head < 20n ? undefined : String(head - 20n);
  const filter = params.get('subAccountId') ?? '';
  // Runs until the page is left; the page itself is ready now (title, focus).
  void follow({ path: `${base}/events`, after, filter, signal, status, list, paused: () => paused });
}

/** Streams the feed into `list`, reconnecting after a drop from the last event seen. */
async function follow({ path, after, filter, signal, status, list, paused }) {
  while (!signal.aborted) {
    try {
      await readEventStream(`${path}${query({ after, subAccountId: filter })}`, {
        signal,
        onOpen: () => replace(status, 'Live: connected.'),
        onEvent: (message) => {
          if (message.event === 'error') {
            replace(status, `The feed reported an error: ${message.data.detail ?? message.data.code}`);
            return;
          }
          after = message.data.cursor ?? message.id ?? after;
          if (paused()) return;
          list.prepend(feedItem(message.data));
          while (list.childElementCount > KEPT_EVENTS) list.lastElementChild.remove();
        },
      });
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError) {
        replace(status, errorBox(error));
        return;
      }
    }
    if (signal.aborted) return;
    replace(status, 'Disconnected; reconnecting…');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/**
 * The feed's cursors are the parent stream's revisions, and a page answers the events after one:
 * so the newest is found with about 2·log2(n) one-event pages (doubling, then halving), without
 * reading the history or changing the API.
 */
async function lastRevision(base, signal) {
  const existsFrom = async (revision) =>
    revision === 0n ||
    (await api(`${base}/events${query({ after: String(revision - 1n), limit: 1 })}`, { signal })).events
      .length > 0;
  let low = 0n;
  let high = 1n;
  while (await existsFrom(high)) {
    low = high;
    high *= 2n;
  }
  while (high - low > 1n) {
    const middle = (low + high) / 2n;
    if (await existsFrom(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/** 'parent acme', 'sub-account shop-a', or 'the operator' (whose id is its role). */
export function actorName(actor) {
  return actor.type === actor.id ? `the ${actor.type}` : `${actor.type} ${actor.id}`;
}

function feedItem(event) {
  const data = event.data ?? {};
  const parts = [
    data.subAccountId ? `sub-account ${data.subAccountId}` : null,
    typeof data.credits === 'number' ? `${credits(data.credits)} credits` : null,
    data.meter ? `meter ${data.meter}` : null,
    data.balancesAfter && typeof data.balancesAfter.remaining === 'number'
      ? `remaining ${credits(data.balancesAfter.remaining)}`
      : null,
    data.period ? `period ${data.period}` : null,
  ].filter(Boolean);
  const metadata = event.metadata ?? {};
  return h(
    'li',
    { class: 'feed-item', dataset: { type: event.type, cursor: event.cursor } },
    h('time', { datetime: metadata.recordedAt ?? '' }, instant(metadata.recordedAt)),
    ' ',
    h('strong', {}, event.type),
    ' ',
    parts.join(' · '),
    h(
      'span',
      { class: 'muted' },
      ` #${event.cursor}`,
      metadata.actor ? ` by ${actorName(metadata.actor)}` : '',
    ),
  );
}

export async function webhooksPage(target, { ids: [parentId], signal }) {
  const base = `/v1/parents/${encodeURIComponent(parentId)}`;
  await api(base, { signal });
  let endpoints;
  try {
    endpoints = await api(`${base}/webhook-endpoints`, { signal });
  } catch (error) {
    // The parent exists (read above), so 404 is the route: a service without webhooks.
    if (error instanceof ApiError && error.status === 404) {
      replace(
        target,
        h('h1', {}, 'Webhooks'),
        h(
          'p',
          { dataset: { field: 'webhooks.unavailable' } },
          'This service has no webhook endpoints route (GET …/webhook-endpoints answers 404).',
        ),
      );
      return;
    }
    throw error;
  }
  const items = Array.isArray(endpoints) ? endpoints : (endpoints.items ?? endpoints.endpoints ?? []);
  const deliveries = card('deliveries-title', { wide: true, live: true });
  replace(
    target,
    h('h1', {}, 'Webhooks'),
    table(
      'Endpoints',
      [
        { label: 'Endpoint', rowHeader: true },
        { label: 'URL' },
        { label: 'Description' },
        { label: 'Event types' },
        { label: 'State' },
        { label: 'Deliveries' },
      ],
      items.map((endpoint) => ({
        cells: [
          endpoint.id,
          endpoint.url,
          endpoint.description ?? '',
          (endpoint.eventTypes ?? []).join(', ') || 'every type',
          endpoint.disabled
            ? `disabled${endpoint.disabledReason ? `: ${endpoint.disabledReason}` : ''}`
            : 'enabled',
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              onclick: () =>
                showDeliveries(
                  deliveries,
                  `${base}/webhook-endpoints/${encodeURIComponent(endpoint.id)}/deliveries`,
                  endpoint.id,
                  signal,
                ),
            },
            'Show deliveries',
          ),
        ],
        attributes: { dataset: { endpoint: endpoint.id } },
      })),
      { dataset: { table: 'webhook-endpoints' } },
    ),
    deliveries,
  );
}

async function showDeliveries(section, path, endpointId, signal) {
  replace(section, h('h2', { id: 'deliveries-title' }, `Deliveries to ${endpointId}`));
  try {
    const answer = await api(path, { signal });
    const items = Array.isArray(answer) ? answer : (answer.items ?? answer.deliveries ?? []);
    section.append(
      table(
        'Deliveries, newest first',
        [
          { label: 'Delivery', rowHeader: true },
          { label: 'Event' },
          { label: 'Status' },
          { label: 'Attempts', class: 'num' },
          { label: 'Last response' },
          { label: 'Delivered' },
          { label: 'Next retry' },
        ],
        items.map((delivery) => ({
          cells: [
            delivery.id ?? delivery.deliveryId,
            delivery.eventType ?? delivery.type ?? '',
            delivery.status ?? '',
            String(delivery.attempts ?? ''),
            [delivery.lastStatus, delivery.lastError]
              .filter((part) => part !== null && part !== undefined)
              .join(' '),
            instant(delivery.deliveredAt),
            instant(delivery.nextAttemptAt ?? delivery.nextRetryAt),
          ],
          attributes: {
            dataset: { delivery: delivery.id ?? delivery.deliveryId, status: delivery.status ?? '' },
          },
        })),
        { dataset: { table: 'webhook-deliveries' } },
      ),
    );
  } catch (error) {
    section.append(errorBox(error));
  }
}
