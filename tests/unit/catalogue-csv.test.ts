import { describe, expect, test } from '@jest/globals';
import { describeProblem, parseCsv, readCatalogueCsv } from '../../src/clients/catalogue-csv.js';
import { checkEntryFields, type RawEntry } from '../../src/clients/catalogue-entry.js';

const HEADER = 'unit,name,description_id,description_en,kind,client_id,acr';
const GOOD: RawEntry = {
  unit: 'bppkad',
  name: 'Pajak Bumi dan Bangunan',
  description_id: 'Bayar PBB, cek tagihan',
  description_en: 'Pay property tax, check the bill',
  kind: 'counter',
  client_id: '',
  acr: 'urn:kediri:acr:basic',
};

describe('parseCsv', () => {
  test('quoted fields keep commas, doubled quotes and line breaks; records know their first line', () => {
    expect(parseCsv('a,"b, c","say ""hi"""\r\n\n"two\nlines",x,\n')).toEqual([
      { line: 1, fields: ['a', 'b, c', 'say "hi"'] },
      { line: 3, fields: ['two\nlines', 'x', ''] },
    ]);
  });

  test('a byte-order mark is ignored; an unclosed quote names its line', () => {
    expect(parseCsv('\uFEFFa,b')).toEqual([{ line: 1, fields: ['a', 'b'] }]);
    expect(() => parseCsv('a,b\nc,"d\n')).toThrow('line 2: a quoted field is never closed');
  });
});

describe('readCatalogueCsv', () => {
  test('reads the lines under the header', () => {
    const read = readCatalogueCsv(`${HEADER}\nbppkad,"Pajak Bumi dan Bangunan","Bayar PBB, cek tagihan","Pay property tax, check the bill",counter,,urn:kediri:acr:basic\n`);
    expect(read).toEqual({ lines: [{ line: 2, raw: GOOD }], problems: [] });
  });

  test('a wrong header, a wrong column count, no entries, an unclosed quote: each reported', () => {
    expect(readCatalogueCsv('unit,name\nx,y').problems).toEqual([{ line: 1, reason: `the first line must be the header: ${HEADER}` }]);
    expect(readCatalogueCsv(`${HEADER}\nbppkad,PBB,Bayar PBB, cek tagihan,Pay tax,counter,,urn:kediri:acr:basic`).problems).toEqual([
      { line: 2, reason: `8 columns, 7 expected (${HEADER})` },
    ]);
    expect(readCatalogueCsv(HEADER).problems).toEqual([{ line: 1, reason: 'the file has no entries after its header' }]);
    expect(readCatalogueCsv(`${HEADER}\n"x`).problems).toEqual([{ line: 0, reason: 'line 2: a quoted field is never closed' }]);
  });
});

describe('checkEntryFields', () => {
  const problems = (fields: Partial<RawEntry>) => checkEntryFields({ ...GOOD, ...fields }).problems.map((p) => describeProblem(p, { ...GOOD, ...fields }));

  test('a good entry is tidied', () => {
    expect(checkEntryFields({ ...GOOD, name: '  Pajak   Bumi\ndan Bangunan ', kind: 'Counter' }).input).toMatchObject({ name: 'Pajak Bumi dan Bangunan', kind: 'counter', clientId: null });
  });

  test('each problem in the operator\'s words, all of them at once', () => {
    expect(problems({ name: '' })).toEqual(['name: missing']);
    expect(problems({ name: 'x'.repeat(101) })).toEqual(['name: must be 2 to 100 characters']);
    expect(problems({ description_en: 'y'.repeat(201), description_id: '' })).toEqual([
      'description_id: missing or longer than 200 characters',
      'description_en: missing or longer than 200 characters',
    ]);
    expect(problems({ kind: 'web' })).toEqual(['kind: must be online or counter, not "web"']);
    expect(problems({ kind: 'online' })).toEqual(['client_id: an online entry needs an active client of its unit']);
    expect(problems({ client_id: 'bppkad-x' })).toEqual(['client_id: a counter entry has no client (leave the column empty)']);
    expect(problems({ acr: 'gold', unit: '' })).toEqual([
      'unit: missing',
      'acr: must be one of urn:kediri:acr:basic, urn:kediri:acr:verified, urn:kediri:acr:verified-mfa, not "gold"',
    ]);
  });
});
