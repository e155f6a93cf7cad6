import type { Queryable } from '../db/db.js';

/** Security-relevant event names; details never carry secrets or NIKs. */
export const AUDIT_TYPES = [
  'login.succeeded',
  'login.failed',
  'login.second_factor_failed',
  'login.throttled',
  'login.disabled_account',
  'account.locked',
  'assurance.unmet',
  'consent.granted',
  'consent.denied',
  'consent.revoked',
  'kiosk.approved',
  'logout',
  'client.created',
  'client.status_changed',
  'client.profile_changed',
  'citizen.created',
  'registration.duplicate',
  'email.verification_sent',
  'email.verified',
  'password_reset.requested',
  'password_reset.completed',
  'password_reset.code_failed',
  'password_reset.throttled',
  'staff.granted',
  'portal.signed_in',
  'portal.recent_login_required',
  'identity.verified',
  'identity.check_failed',
  'identity.name_corrected',
  'factor.added',
  'factor.removed',
  'recovery_codes.renewed',
  'recovery_code.used',
  'session.ended',
  'session.expired',
  'password.changed',
  'account.deleted',
  'profile.changed',
  'email.changed',
  'phone.code_sent',
  'phone.code_refused',
  'phone.verified',
  'phone.changed',
  'csrf.rejected',
  'keys.rotated',
  'keys.revoked',
  'keys.sessions_ended',
  'client_request.submitted',
  'client_request.approved',
  'client_request.rejected',
  'client.secret_shown',
  'client.secret_rotated',
  'client.jwks_updated',
  'staff.invited',
  'staff.invitation_accepted',
  'staff.invitation_cancelled',
  'staff.revoked',
  'staff.second_factor_missing',
  'unit.created',
  'unit.updated',
  'citizen.searched',
  'citizen.nik_revealed',
  'citizen.locked',
  'citizen.unlocked',
  'initial_access_token.issued',
  'initial_access_token.revoked',
  'client.registered_dynamically',
  'client.updated_dynamically',
  'client.deleted_dynamically',
  'client.registration_token_rotated',
  'ciba.requested',
  'ciba.approved',
  'ciba.denied',
  'catalogue.entry_created',
  'catalogue.entry_updated',
  'catalogue.entry_deleted',
  'catalogue.imported',
  'catalogue.proposal_submitted',
  'catalogue.proposal_approved',
  'catalogue.proposal_rejected',
  'upstream.created',
  'upstream.updated',
  'upstream.started',
  'upstream.failed',
  'upstream.linked',
  'upstream.link_refused',
  'upstream.unlinked',
  'upstream.logout',
  'upstream.logout_refused',
  'resource_server.created',
  'resource_server.updated',
  'resource_server.deleted',
  'retention.registration_deleted',
  'retention.account_warned',
  'retention.account_disabled',
] as const;

export type AuditType = (typeof AUDIT_TYPES)[number];

export interface AuditEvent {
  type: AuditType;
  actor?: string;
  citizenId?: string;
  clientId?: string;
  ip?: string;
  details?: Record<string, unknown>;
}

export type Audit = (event: AuditEvent, db?: Queryable) => Promise<void>;

/**
 * Returns record(event[, tx]): pass the transaction to make the entry part of the change it
 * audits. `recorded` hears of each entry once it is written (the metrics count them).
 */
export function createAudit(db: Queryable, recorded: (event: AuditEvent) => void = () => {}): Audit {
  return async (event, on = db) => {
    await on.query(
      'insert into audit_events (type, actor, citizen_id, client_id, ip, details) values ($1, $2, $3, $4, $5, $6)',
      [event.type, event.actor ?? null, event.citizenId ?? null, event.clientId ?? null, event.ip ?? null, event.details ?? {}],
    );
    recorded(event);
  };
}

/**
 * Takes the IP address and device (user agent) off at most `limit` entries older than `days`;
 * returns how many. Entries keep what happened, and to which account, until deleteOldAudit.
 */
export async function forgetAuditDevices(on: Queryable, days: number, limit: number): Promise<number> {
  const { rowCount } = await on.query(
    `update audit_events set ip = null, details = details - 'userAgent'
     where id in (select id from audit_events where (ip is not null or details ? 'userAgent') and at < now() - make_interval(days => $1) limit $2)`,
    [days, limit],
  );
  return rowCount;
}

/** Deletes at most `limit` entries older than `days`, oldest first; returns how many. */
export async function deleteOldAudit(on: Queryable, days: number, limit: number): Promise<number> {
  const { rowCount } = await on.query(
    'delete from audit_events where id in (select id from audit_events where at < now() - make_interval(days => $1) order by at limit $2)',
    [days, limit],
  );
  return rowCount;
}
