import { text, toCsv, wantsCsv } from './csv';

describe('CSV writer', () => {
  it('quotes commas, quotes and line breaks, and defuses formulas in caller text only', () => {
    expect(
      toCsv(
        ['name', 'amount', 'note'],
        [
          [text('Acme, "EU"'), '-1.50', text('=HYPERLINK("x")')],
          [text('-2'), 0, text(null)],
          [text('multi\nline'), '12.00', text('@sum')],
        ],
      ),
    ).toBe(
      'name,amount,note\r\n' +
        '"Acme, ""EU""",-1.50,"\'=HYPERLINK(""x"")"\r\n' +
        "'-2,0,\r\n" +
        '"multi\nline",12.00,\'@sum\r\n',
    );
  });

  it('prefers CSV only when asked for it at least as much as JSON', () => {
    expect(wantsCsv('text/csv')).toBe(true);
    expect(wantsCsv('text/csv, application/json;q=0.5')).toBe(true);
    expect(wantsCsv('application/json, text/csv;q=0.5')).toBe(false);
    expect(wantsCsv('text/csv;q=0')).toBe(false);
    expect(wantsCsv('*/*')).toBe(false);
    expect(wantsCsv(undefined)).toBe(false);
  });
});
