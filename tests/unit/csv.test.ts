import { describe, expect, test } from '@jest/globals';
import { csvCell, csvFile } from '../../src/web/csv.js';

describe('CSV for download', () => {
  test('quotes what needs it and doubles quotes', () => {
    expect(csvCell('Pajak Daerah')).toBe('Pajak Daerah');
    expect(csvCell('a, b')).toBe('"a, b"');
    expect(csvCell('kata "kutip"')).toBe('"kata ""kutip"""');
    expect(csvCell('dua\nbaris')).toBe('"dua\nbaris"');
  });

  test('a cell that would be a formula in a spreadsheet is text', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r']) expect(csvCell(`${start}SUM(A1)`).replace(/^"/, '')).toMatch(/^'/);
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell(-3)).toBe('-3');
    // Split on semicolons (a spreadsheet set for Indonesia), the rest would begin a cell: quoted.
    expect(csvCell('X;=HYPERLINK(1)')).toBe('"X;=HYPERLINK(1)"');
    expect(csvFile(['a', 'b'], [[1, 'x'], [2, '@y']])).toBe("a,b\r\n1,x\r\n2,'@y\r\n");
  });
});
