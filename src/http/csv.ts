import type { FastifyReply } from 'fastify';

/**
 * CSV exports (RFC 4180): a header row, CRLF line ends, a field quoted when it holds a comma, a
 * quote or a line break, quotes doubled. Writing CSV is this much; no library earns its place.
 *
 * Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first: CWE-1236) is
 * prefixed with `'` when it comes from a caller (names, meters, ids). Numbers and decimal amounts
 * are written as they are, so "-1.50" stays a number.
 */
export type CsvCell = string | number | null | undefined | { readonly text: string };

/** A caller-supplied text cell: guarded against formula injection. */
export function text(value: string | null | undefined): CsvCell {
  return value === null || value === undefined ? '' : { text: value };
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

function cell(value: CsvCell): string {
  if (value === null || value === undefined) return '';
  let raw: string;
  if (typeof value === 'object') raw = /^[=+\-@\t\r]/.test(value.text) ? `'${value.text}` : value.text;
  else raw = String(value);
  return /[",\r\n]/.test(raw) ? `"${raw.replace(/"/g, '""')}"` : raw;
}

/**
 * True when the caller asked for CSV (`Accept: text/csv`), preferring it over JSON: content
 * negotiation kept to what the export routes need (a `q=0` refuses it).
 */
export function wantsCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  let csv = -1;
  let json = -1;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (type.trim() === 'text/csv') csv = Math.max(csv, q);
    if (type.trim() === 'application/json' || type.trim() === '*/*') json = Math.max(json, q);
  }
  return csv > 0 && csv >= json;
}

/** Sends a CSV body; the filename names the download. */
export function sendCsv(reply: FastifyReply, filename: string, body: string): string {
  void reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`);
  return body;
}
