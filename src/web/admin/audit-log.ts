import type { Context } from 'koa';
import { AUDIT_TYPES } from '../../audit/audit.js';
import type { AuditFilter } from '../../audit/audit-search.js';
import { message } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

/** Each filter: its query parameter, the filter field it sets, and what a good value looks like. */
const FILTERS: Array<{ param: string; key: keyof AuditFilter; valid: (value: string) => boolean }> = [
  { param: 'dari', key: 'from', valid: isDate },
  { param: 'sampai', key: 'to', valid: isDate },
  { param: 'jenis', key: 'type', valid: (value) => (AUDIT_TYPES as readonly string[]).includes(value) },
  { param: 'pelaku', key: 'actor', valid: (value) => /^[\w.@:-]{1,100}$/.test(value) },
  { param: 'klien', key: 'clientId', valid: (value) => /^[\w.-]{1,100}$/.test(value) },
  { param: 'warga', key: 'citizenId', valid: (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value) },
  { param: 'sebelum', key: 'before', valid: (value) => /^[1-9]\d{0,17}$/.test(value) },
];

/** A real calendar date, YYYY-MM-DD. */
function isDate(value: string): boolean {
  const time = Date.parse(`${value}T00:00:00Z`);
  return /^[1-9]\d{3}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(time) && new Date(time).toISOString().startsWith(value);
}

/** The filter of the query string and the values to show again, with an error for each bad value. */
function parseFilter(ctx: Context) {
  const filter: AuditFilter = {};
  const values: Record<string, string> = {};
  const errors: Array<{ field: string; message: string }> = [];
  for (const { param, key, valid } of FILTERS) {
    const raw = ctx.query[param];
    // A repeated parameter arrives as an array: bad input, like any value that does not fit.
    const value = typeof raw === 'string' ? raw.trim() : raw === undefined ? '' : null;
    if (value === '') continue;
    values[param] = value ?? '';
    if (value !== null && valid(value)) (filter as Record<string, string>)[key] = value;
    else errors.push({ field: param, message: message(ctx, `admin-audit.error.${param}`) });
  }
  if (filter.from && filter.to && filter.from > filter.to) errors.push({ field: 'sampai', message: message(ctx, 'admin-audit.error.range') });
  return { filter, values, errors };
}

/** The audit log (/admin/audit): filtered by the query string, newest first, 50 entries a page. */
export const auditLogRoutes: AdminModule = (router, { auditSearch }) => {
  router.get('/audit', async (ctx) => {
    const { filter, values, errors } = parseFilter(ctx);
    const page = { types: AUDIT_TYPES, values, errors };
    if (errors.length) return render(ctx, 'admin/audit', { ...page, entries: [] }, 400);
    const { entries, more } = await auditSearch(filter);
    const { sebelum, ...filters } = values;
    render(ctx, 'admin/audit', {
      ...page,
      entries,
      // The next page: the same filters, older than the last entry shown; and back to the newest.
      older: more ? `?${new URLSearchParams({ ...filters, sebelum: entries.at(-1)!.id })}` : undefined,
      newest: sebelum ? `?${new URLSearchParams(filters)}` : undefined,
    });
  });
};
