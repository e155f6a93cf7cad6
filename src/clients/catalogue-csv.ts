import { InputError } from '../errors.js';
import { ACR_VALUES } from '../identity/assurance.js';
import { DESCRIPTION_MAX, NAME_MAX, type RawEntry } from './catalogue-entry.js';

/** The columns of a catalogue file, in this order, named by its first line. */
export const CSV_COLUMNS = ['unit', 'name', 'description_id', 'description_en', 'kind', 'client_id', 'acr'] as const;

/** A file larger than this is refused whole (the MPP's 86 services take a few kB). */
export const CSV_MAX_BYTES = 1_000_000;

export interface CsvRecord {
  /** The line of the file the record starts on (1 is the header). */
  line: number;
  fields: string[];
}

/**
 * Splits CSV text (RFC 4180: comma-separated, a field in double quotes may hold commas, line breaks
 * and doubled quotes; CRLF or LF; a leading byte-order mark ignored) into records. Blank lines are
 * skipped. Throws an InputError naming the line of a quote that is never closed.
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let quoted = false;
  let quoteLine = 0;
  const endRecord = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0] !== '') records.push({ line: start, fields });
    fields = [];
    field = '';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
      quoteLine = line;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && source[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else field += c;
  }
  if (quoted) throw new InputError('csv_quote_unclosed', undefined, `line ${quoteLine}: a quoted field is never closed`);
  endRecord();
  return records;
}

export interface CsvLine {
  line: number;
  raw: RawEntry;
}

export interface CsvProblem {
  line: number;
  reason: string;
}

/**
 * The entries of a catalogue file: the header must name CSV_COLUMNS in order; each other record
 * must have as many fields. Lines with the wrong number of columns are problems; their fields are
 * checked by the caller.
 */
export function readCatalogueCsv(text: string): { lines: CsvLine[]; problems: CsvProblem[] } {
  if (Buffer.byteLength(text) > CSV_MAX_BYTES) return { lines: [], problems: [{ line: 0, reason: `the file is larger than ${CSV_MAX_BYTES} bytes` }] };
  let records: CsvRecord[];
  try {
    records = parseCsv(text);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    return { lines: [], problems: [{ line: 0, reason: error.message }] };
  }
  const [header, ...rest] = records;
  const expected = CSV_COLUMNS.join(',');
  if (!header || header.fields.map((f) => f.trim().toLowerCase()).join(',') !== expected) {
    return { lines: [], problems: [{ line: header?.line ?? 1, reason: `the first line must be the header: ${expected}` }] };
  }
  const lines: CsvLine[] = [];
  const problems: CsvProblem[] = [];
  for (const record of rest) {
    if (record.fields.length !== CSV_COLUMNS.length) {
      problems.push({ line: record.line, reason: `${record.fields.length} columns, ${CSV_COLUMNS.length} expected (${expected})` });
      continue;
    }
    const raw = Object.fromEntries(CSV_COLUMNS.map((column, i) => [column, record.fields[i]!])) as unknown as RawEntry;
    lines.push({ line: record.line, raw });
  }
  if (rest.length === 0) problems.push({ line: header.line, reason: 'the file has no entries after its header' });
  return { lines, problems };
}

/** A problem of a line's fields (catalogue-entry.ts, catalogue.ts) in the operator's words, naming the column. */
export function describeProblem(error: InputError, raw: RawEntry): string {
  const quoted = (text: string) => JSON.stringify(text.trim());
  switch (error.code) {
    case 'catalogue_unit_unknown':
      return raw.unit.trim() ? `unit: unknown unit ${quoted(raw.unit)}` : 'unit: missing';
    case 'catalogue_name_missing':
      return 'name: missing';
    case 'catalogue_name_invalid':
      return `name: must be 2 to ${NAME_MAX} characters`;
    case 'catalogue_name_taken':
      return `name: the unit lists ${quoted(raw.name)} already (in the catalogue or earlier in this file)`;
    case 'catalogue_description_invalid':
      return `${error.field}: missing or longer than ${DESCRIPTION_MAX} characters`;
    case 'catalogue_kind_invalid':
      return `kind: must be online or counter, not ${quoted(raw.kind)}`;
    case 'catalogue_client_required':
      return 'client_id: an online entry needs an active client of its unit';
    case 'catalogue_client_unexpected':
      return 'client_id: a counter entry has no client (leave the column empty)';
    case 'catalogue_client_invalid':
      return `client_id: ${quoted(raw.client_id)} is not an active client of unit ${quoted(raw.unit)}`;
    case 'catalogue_acr_invalid':
      return `acr: must be one of ${ACR_VALUES.join(', ')}, not ${quoted(raw.acr)}`;
    default:
      return `${error.field ?? 'line'}: ${error.code}`;
  }
}
