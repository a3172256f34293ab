/* global fetch, sessionStorage, TextDecoder, URLSearchParams */
/**
 * The console calls the public API with the key it was signed in with, and nothing else: it sees
 * exactly what that key may see. The key lives in sessionStorage (this tab, until it is closed or
 * the user signs out), never in localStorage or a cookie.
 */
const KEY_ITEM = 'subledger.console.key';

export function currentKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function keepKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** An answer other than 2xx: the problem+json's fields, or the status alone. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.title = problem?.title;
    this.detail = problem?.detail;
    this.code = problem?.code;
  }
}

function headers(key, extra = {}) {
  return { authorization: `Bearer ${key ?? currentKey()}`, ...extra };
}

/** JSON in, JSON out; throws ApiError on anything but 2xx. `key` overrides the session's key. */
export async function api(path, { method = 'GET', body, key, signal } = {}) {
  const response = await fetch(path, {
    method,
    signal,
    headers: headers(key, {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const parsed = text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text;
  if (!response.ok) throw new ApiError(response.status, typeof parsed === 'object' ? parsed : undefined);
  return parsed;
}

/** The same route as CSV (the API answers Accept: text/csv), as a Blob for a download. */
export async function csv(path) {
  const response = await fetch(path, { headers: headers(undefined, { accept: 'text/csv' }) });
  if (!response.ok) {
    const text = await response.text();
    throw new ApiError(response.status, text.startsWith('{') ? JSON.parse(text) : undefined);
  }
  return response.blob();
}

/** A query string of the values that are set: query({from: '2026-10-01', to: ''}) → '?from=2026-10-01'. */
export function query(values) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * The live feed. EventSource cannot send an Authorization header, so the console reads the same
 * `text/event-stream` answer with fetch, which can: no token in a URL, no cookie, no change to the
 * API. `onEvent` gets each parsed event; the promise ends when the stream does or `signal` aborts.
 * Reconnecting after a drop resumes from the last cursor seen (the route's `after`).
 */
export async function readEventStream(path, { signal, onEvent, onOpen }) {
  const response = await fetch(path, {
    signal,
    headers: headers(undefined, { accept: 'text/event-stream' }),
  });
  if (!response.ok) {
    const text = await response.text();
    throw new ApiError(response.status, text.startsWith('{') ? JSON.parse(text) : undefined);
  }
  onOpen?.();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = { data: [] };
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const content = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'data') fields.data.push(content);
        else fields[name] = content;
      }
      if (fields.data.length > 0) {
        onEvent({
          id: fields.id,
          event: fields.event ?? 'message',
          data: JSON.parse(fields.data.join('\n')),
        });
      }
    }
  }
}
