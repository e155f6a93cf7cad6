/*
 * CSV for download (RFC 4180, as the catalogue's files: comma-separated, CRLF, a field with a
 * comma, quote or line break in double quotes with its quotes doubled), safe to open in a
 * spreadsheet: a cell that begins like a formula (=, +, -, @, or a tab or carriage return before
 * one) gets a leading apostrophe, so it is shown as text and never run; a cell with a semicolon is
 * quoted too, because a spreadsheet set for Indonesia splits on semicolons, and the part after one
 * must not begin a cell of its own.
 */

/** One cell. */
export function csvCell(value: string | number | boolean): string {
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",;\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A file: the header, then the rows, each line ending in CRLF. */
export const csvFile = (header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | boolean>>): string =>
  [header, ...rows].map((row) => `${row.map(csvCell).join(',')}\r\n`).join('');
