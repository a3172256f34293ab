/* global document, window, AbortController, URLSearchParams */
/**
 * The console's shell: sign-in, the navigation for the key's role, and a router over the URL's
 * hash (#/p/{parent}/s/{sub-account}, …), so every page has an address, Back works and nothing but
 * the key is kept.
 */
import { api, currentKey, forgetKey, keepKey } from './api.js';
import { destroyCharts } from './charts.js';
import { announce, errorBox, field, form, h, replace } from './dom.js';
import { feedPage, webhooksPage } from './pages-live.js';
import { invoicesPage, periodsPage } from './pages-billing.js';
import { parentPage } from './pages-parent.js';
import { subAccountPage } from './pages-sub-account.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

/** Who the key is (GET /v1/me), once per sign-in. */
let me = null;
/** Aborts the page being left: its live feed, its requests. */
let leaving = new AbortController();

const ROUTES = [
  { pattern: /^\/?$/, page: home },
  { pattern: /^\/sign-in$/, page: signInPage, public: true },
  { pattern: /^\/operator$/, page: operatorPage },
  { pattern: /^\/p\/([^/]+)$/, page: parentPage, title: 'Overview' },
  { pattern: /^\/p\/([^/]+)\/s\/([^/]+)$/, page: subAccountPage, title: 'Sub-account' },
  { pattern: /^\/p\/([^/]+)\/invoices$/, page: invoicesPage, title: 'Invoices' },
  { pattern: /^\/p\/([^/]+)\/periods$/, page: periodsPage, title: 'Billing periods' },
  { pattern: /^\/p\/([^/]+)\/feed$/, page: feedPage, title: 'Live feed' },
  { pattern: /^\/p\/([^/]+)\/webhooks$/, page: webhooksPage, title: 'Webhooks' },
];

/** '#/p/acme/invoices?period=2026-10' → {path: '/p/acme/invoices', params: URLSearchParams}. */
function currentRoute() {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, search] = hash.split('?');
  return { path, params: new URLSearchParams(search ?? '') };
}

function go(path) {
  window.location.hash = `#${path}`;
}

async function render() {
  leaving.abort();
  leaving = new AbortController();
  destroyCharts();
  const { path, params } = currentRoute();
  const route = ROUTES.find((candidate) => candidate.pattern.test(path));
  if (!route) {
    replace(
      main,
      h('h1', {}, 'Not found'),
      h('p', {}, 'The console has no page at ', h('code', {}, path), '.'),
    );
    return;
  }
  if (!route.public && !currentKey()) return go('/sign-in');
  if (!route.public && !me) {
    try {
      me = await api('/v1/me');
    } catch (error) {
      // A revoked or unknown key ends the session; anything else (the service restarting) is shown.
      if (error.status !== 401)
        return replace(main, h('h1', {}, 'The service did not answer'), errorBox(error));
      forgetKey();
      return go('/sign-in');
    }
  }
  const ids = route.pattern.exec(path).slice(1).map(decodeURIComponent);
  renderNav(ids[0]);
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
  const { signal } = leaving;
  try {
    await route.page(main, { ids, params, me, signal, go });
  } catch (error) {
    if (signal.aborted) return;
    replace(main, h('h1', {}, route.title ?? 'Error'), errorBox(error));
  }
  // Left while loading: the next page owns the title and the focus.
  if (signal.aborted) return;
  document.title = `${main.querySelector('h1')?.textContent ?? 'Console'} · Subledger`;
  // After a navigation, focus goes to the page's content, as a new page load would put it, unless
  // the page put it on a control of its own (the sign-in field).
  if (!main.contains(document.activeElement) || document.activeElement === main) main.focus();
  announce(`${main.querySelector('h1')?.textContent ?? 'Page'} loaded`);
}

function renderNav(parentId) {
  replace(nav);
  replace(who);
  if (!me) return;
  const links = [];
  const current = currentRoute().path;
  const link = (path, label) =>
    h('a', { href: `#${path}`, 'aria-current': current === path ? 'page' : false }, label);
  if (me.role === 'operator') links.push(link('/operator', 'Parents'));
  const p = me.role === 'operator' ? parentId : me.parent?.id;
  if (p && me.role !== 'sub-account') {
    const base = `/p/${encodeURIComponent(p)}`;
    links.push(
      link(base, 'Overview'),
      link(`${base}/invoices`, 'Invoices'),
      link(`${base}/periods`, 'Billing periods'),
      link(`${base}/feed`, 'Live feed'),
      link(`${base}/webhooks`, 'Webhooks'),
    );
  }
  if (me.role === 'sub-account') {
    links.push(
      link(`/p/${encodeURIComponent(me.parent.id)}/s/${encodeURIComponent(me.subAccount.id)}`, 'My credits'),
    );
  }
  replace(
    nav,
    h(
      'ul',
      {},
      links.map((item) => h('li', {}, item)),
    ),
  );
  const identity =
    me.role === 'operator'
      ? 'Operator'
      : me.role === 'parent'
        ? `Parent ${me.parent.name} (${me.parent.id})`
        : `Sub-account ${me.subAccount.name} (${me.subAccount.id}) of ${me.parent.id}`;
  replace(
    who,
    h('span', { dataset: { field: 'identity' } }, identity),
    h('button', { type: 'button', class: 'secondary', onclick: signOut }, 'Sign out'),
  );
}

function signOut() {
  forgetKey();
  me = null;
  go('/sign-in');
  announce('Signed out');
}

/** Where each kind of key starts. */
function home() {
  if (me.role === 'operator') return go('/operator');
  if (me.role === 'parent') return go(`/p/${encodeURIComponent(me.parent.id)}`);
  return go(`/p/${encodeURIComponent(me.parent.id)}/s/${encodeURIComponent(me.subAccount.id)}`);
}

function signInPage(target) {
  me = null;
  renderNav();
  const input = h('input', {
    type: 'password',
    name: 'key',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const message = h('div', { class: 'message' });
  const signInForm = form(
    { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    async () => {
      const key = input.value.trim();
      try {
        me = await api('/v1/me', { key });
      } catch (error) {
        replace(
          message,
          errorBox(
            error.status === 401 ? { ...error, detail: 'This key is not valid or was revoked.' } : error,
          ),
        );
        input.focus();
        return;
      }
      keepKey(key);
      announce('Signed in');
      home();
    },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h(
      'p',
      {},
      'Use the operator token, a parent key or a sub-account key. The console shows exactly what the key may see through the API. The key is kept in this tab only and forgotten when you sign out or close it.',
    ),
    field('Key or operator token', input),
    h('button', { type: 'submit' }, 'Sign in'),
    message,
  );
  replace(target, signInForm);
  input.focus();
}

function operatorPage(target, { go: navigate }) {
  const input = h('input', {
    type: 'text',
    name: 'parent',
    required: true,
    pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}',
    autocomplete: 'off',
  });
  replace(
    target,
    h('h1', {}, 'Parents'),
    form(
      { class: 'card inline' },
      () => {
        navigate(`/p/${encodeURIComponent(input.value.trim())}`);
      },
      field('Parent account id', input, 'The operator reads every parent; type the id of the one to open.'),
      h('button', { type: 'submit' }, 'Open'),
    ),
  );
}

window.addEventListener('hashchange', render);
render();
