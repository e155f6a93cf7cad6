import type { Queryable } from '../db/db.js';
import type { AuditType } from './audit.js';

/** What the audit log can be filtered by; every field already validated. */
export interface AuditFilter {
  /** Days in Kediri (WIB), YYYY-MM-DD, both included. */
  from?: string;
  to?: string;
  type?: AuditType;
  actor?: string;
  clientId?: string;
  citizenId?: string;
  /** Keyset pagination: only entries older than this id. */
  before?: string;
}

export interface AuditEntry {
  id: string;
  at: Date;
  type: string;
  actor: string | null;
  citizenId: string | null;
  clientId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export const AUDIT_PAGE_SIZE = 50;

/** Reads the audit log: newest first, a page at a time (keyset by id). */
export function createAuditSearch(db: Queryable) {
  return async function search(filter: AuditFilter): Promise<{ entries: AuditEntry[]; more: boolean }> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const where = (sql: (param: string) => string, value: unknown) => {
      params.push(value);
      conditions.push(sql(`$${params.length}`));
    };
    // The days are Kediri's (WIB), as the log shows its times.
    if (filter.from) where((p) => `at >= ${p}::date::timestamp at time zone 'Asia/Jakarta'`, filter.from);
    if (filter.to) where((p) => `at < (${p}::date + 1)::timestamp at time zone 'Asia/Jakarta'`, filter.to);
    if (filter.type) where((p) => `type = ${p}`, filter.type);
    if (filter.actor) where((p) => `actor = ${p}`, filter.actor);
    if (filter.clientId) where((p) => `client_id = ${p}`, filter.clientId);
    if (filter.citizenId) where((p) => `citizen_id = ${p}`, filter.citizenId);
    if (filter.before) where((p) => `id < ${p}`, filter.before);
    params.push(AUDIT_PAGE_SIZE + 1);
    const { rows } = await db.query<AuditEntry>(
      `select id::text, at, type, actor, citizen_id as "citizenId", client_id as "clientId", ip, details
       from audit_events ${conditions.length ? `where ${conditions.join(' and ')}` : ''}
       order by id desc limit $${params.length}`,
      params,
    );
    return { entries: rows.slice(0, AUDIT_PAGE_SIZE), more: rows.length > AUDIT_PAGE_SIZE };
  };
}

export type AuditSearch = ReturnType<typeof createAuditSearch>;
