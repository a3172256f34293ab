/* global document, Node */
/**
 * DOM helpers. Everything the API returns is put in the page with textContent or attributes, never
 * as HTML, so a name or a reference holding markup stays text.
 */

/**
 * h('a', {href: '#/x', class: 'link'}, 'text', child) builds an element. Attributes whose value is
 * false, null or undefined are left out; `on…` functions become listeners; `dataset` sets data-*.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces what `element` holds with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Credits as people read them: 1,234,567. Strings (sums beyond 2^53 come as strings) are grouped too. */
export function credits(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return /^-?\d+$/.test(value) ? groupDigits(value) : value;
  return integer.format(value);
}

function groupDigits(digits) {
  const negative = digits.startsWith('-');
  const body = negative ? digits.slice(1) : digits;
  return (negative ? '−' : '') + body.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** An instant in UTC, to the second: 2026-11-03 14:05:09 UTC. */
export function instant(value) {
  if (!value) return '—';
  return `${value.slice(0, 10)} ${value.slice(11, 19)} UTC`;
}

/** A labelled value for a summary: <div><dt>label</dt><dd data-field=…>value</dd></div>. */
export function stat(label, value, field) {
  return h('div', { class: 'stat' }, h('dt', {}, label), h('dd', { dataset: { field } }, value));
}

/**
 * A card: a section labelled by its heading, whose id is `titleId` (the content brings the heading);
 * `live` for one whose content changes after an action, so a screen reader hears the answer.
 */
export function card(titleId, { wide = false, live = false } = {}, ...children) {
  return h(
    'section',
    { class: wide ? 'card wide' : 'card', 'aria-labelledby': titleId, 'aria-live': live ? 'polite' : false },
    ...children,
  );
}

/** A page's title naming a thing and its id: “Client shop-a (shop-a)”. */
export function entityTitle(name, id) {
  return h('h1', {}, name, ' ', h('span', { class: 'muted' }, `(${id})`));
}

/** A table with a caption, header cells scoped to their columns, and one row per item. */
export function table(caption, columns, rows, attributes = {}) {
  return h(
    'table',
    attributes,
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((column) => h('th', { scope: 'col', class: column.class }, column.label)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length === 0
        ? h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, 'Nothing to show.'))
        : rows.map((row) =>
            h(
              'tr',
              row.attributes ?? {},
              columns.map((column, index) =>
                index === 0 && column.rowHeader
                  ? h('th', { scope: 'row', class: column.class }, row.cells[index])
                  : h('td', { class: column.class }, row.cells[index]),
              ),
            ),
          ),
    ),
  );
}

/** A form whose submission stays in the page: `onSubmit` runs instead of a navigation. */
export function form(attributes, onSubmit, ...children) {
  const submit = (event) => {
    event.preventDefault();
    void onSubmit(event);
  };
  return h('form', { ...attributes, onsubmit: submit }, ...children);
}

/** A form field: a visible label tied to its control. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { id: hintId }, hint) : null,
  );
}

/** Says something to screen readers (the polite live region) without moving focus. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (region) region.textContent = message;
}

/** A problem+json from the API (or any error) as a message people can act on. */
export function errorBox(error) {
  const title =
    error && error.status ? `${error.status} ${error.title ?? ''}`.trim() : 'Something went wrong';
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, title),
    ' ',
    error?.detail ?? error?.message ?? String(error),
    error?.code ? h('span', { class: 'code' }, ` (${error.code})`) : null,
  );
}

/** 'YYYY-MM-DD' of a Date in UTC. */
export function utcDay(date) {
  return date.toISOString().slice(0, 10);
}
