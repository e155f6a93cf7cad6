import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { PORTAL_CLIENT_ID } from '../oidc/portal-client.js';
import type { Citizen, CitizenStore } from './citizens.js';
import type { Throttle } from './throttle.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { passwordChangedEmail } from '../email/messages.js';
import { endAccountSessions } from '../oidc/payloads.js';
import { enqueueSessionLogouts } from '../oidc/logout-outbox.js';
import type { Sealer } from '../secrets.js';

export interface ConnectedService {
  grantId: string;
  clientId: string;
  name: string;
  unitName: string;
  scopes: string[];
  since: Date;
}

export interface SignInSession {
  id: string;
  signedInAt: Date;
  /** From the login's audit entry: the device and address it came from. */
  userAgent: string | null;
  ip: string | null;
  services: string[];
}

export interface ActivityEntry {
  type: string;
  at: Date;
  ip: string | null;
  clientId: string | null;
}

/** What the citizen's account page (/akun) shows and does: connected services, activity, export. */
export function createAccount(db: Db, sealer: Sealer, citizens: CitizenStore, outbox: Outbox, audit: Audit, throttle: Throttle) {
  /** The account's current password, checked under the same lockout as a login; an InputError for `field` otherwise. */
  async function checkCurrentPassword(citizen: Citizen, password: string, field: string): Promise<void> {
    const verdict = await throttle.accountAttempt(citizen.id);
    if (!verdict.allowed) throw new InputError(verdict.locked ? 'account_locked' : 'too_many_attempts', field);
    if (!(await citizens.authenticate(citizen.email, password))) {
      await throttle.accountFailed(citizen.id);
      throw new InputError('password_current_wrong', field);
    }
    await throttle.accountSucceeded(citizen.id);
  }

  async function connectedServices(citizenId: string): Promise<ConnectedService[]> {
    const { rows } = await db.query<ConnectedService & { scope: string | null }>(
      `select g.id as "grantId", g.payload->>'clientId' as "clientId", c.name, u.name as "unitName",
         g.payload->'openid'->>'scope' as scope, to_timestamp((g.payload->>'iat')::double precision) as since
       from oidc_payloads g
       join clients c on c.client_id = g.payload->>'clientId'
       join units u on u.slug = c.unit_slug
       where g.model = 'Grant' and g.payload->>'accountId' = $1 and (g.expires_at is null or g.expires_at > now())
       order by since desc`,
      [citizenId],
    );
    return rows.map(({ scope, ...service }) => ({ ...service, scopes: (scope ?? '').split(' ').filter(Boolean) }));
  }

  async function activity(citizenId: string, limit: number): Promise<ActivityEntry[]> {
    const { rows } = await db.query<ActivityEntry>(
      `select type, at, ip, client_id as "clientId" from audit_events where citizen_id = $1 order by at desc, id desc limit $2`,
      [citizenId, limit],
    );
    return rows;
  }

  return {
    connectedServices,
    activity,
    checkCurrentPassword,

    /** The account's live sign-in sessions, newest first, with the device and address of each login. */
    async sessions(citizenId: string): Promise<SignInSession[]> {
      const { rows } = await db.query<{ id: string; login_ts: number; authorizations: Record<string, unknown> | null; user_agent: string | null; ip: string | null }>(
        `select s.id, (s.payload->>'loginTs')::bigint as login_ts, s.payload->'authorizations' as authorizations,
           l.details->>'userAgent' as user_agent, l.ip
         from oidc_payloads s
         left join lateral (
           select details, ip from audit_events a
           where a.citizen_id = $2 and a.type = 'login.succeeded'
             and a.at between to_timestamp((s.payload->>'loginTs')::bigint) - interval '10 seconds'
                          and to_timestamp((s.payload->>'loginTs')::bigint) + interval '10 seconds'
           order by a.at desc limit 1) l on true
         where s.model = 'Session' and s.payload->>'accountId' = $1 and (s.expires_at is null or s.expires_at > now())
         order by login_ts desc`,
        [citizenId, citizenId],
      );
      const names = await db.query<{ client_id: string; name: string }>('select client_id, name from clients');
      const nameOf = new Map(names.rows.map((r) => [r.client_id, r.name]));
      return rows.map((r) => ({
        id: r.id,
        signedInAt: new Date(Number(r.login_ts) * 1000),
        userAgent: r.user_agent,
        ip: r.ip,
        services: Object.keys(r.authorizations ?? {}).flatMap((clientId) => (nameOf.has(clientId) ? [nameOf.get(clientId)!] : [])),
      }));
    },

    /** Ends one sign-in session of this account and revokes the grants made in it; its relying parties get a back-channel logout. */
    async endSession(citizenId: string, sessionId: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ grants: string[] }>(
          `select coalesce(array(select value->>'grantId' from jsonb_each(payload->'authorizations')), '{}') as grants
           from oidc_payloads where model = 'Session' and id = $1 and payload->>'accountId' = $2`,
          [sessionId, citizenId],
        );
        if (!rows[0]) return false;
        await enqueueSessionLogouts(tx, citizenId, sessionId);
        await tx.query("delete from oidc_payloads where model = 'Session' and id = $1", [sessionId]);
        const grants = rows[0].grants.filter(Boolean);
        if (grants.length) await tx.query("delete from oidc_payloads where grant_id = any($1) or (model = 'Grant' and id = any($1))", [grants]);
        await audit({ type: 'session.ended', citizenId, ip }, tx);
        return true;
      });
    },

    /** Ends every sign-in session of the account and revokes every grant and token. */
    async endAllSessions(citizenId: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        await endAccountSessions(tx, citizenId);
        await tx.query('update citizens set sessions_ended_at = now() where id = $1', [citizenId]);
        await audit({ type: 'session.ended', citizenId, ip, details: { all: true } }, tx);
      });
    },

    /** Changes the password (the current one must be right): every session and token ends, and the citizen is emailed. */
    async changePassword(citizenId: string, current: string, next: string, ip: string): Promise<void> {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) throw new InputError('account_unknown');
      await checkCurrentPassword(citizen, current, 'current');
      const weak = await citizens.passwordProblemFor(citizenId, next);
      if (weak) throw new InputError(weak, 'password');
      await db.transaction(async (tx) => {
        await citizens.setPassword(tx, citizenId, next);
        await endAccountSessions(tx, citizenId);
        await outbox.enqueue(passwordChangedEmail(citizen.email, citizen.name), tx);
        await audit({ type: 'password.changed', citizenId, ip }, tx);
      });
    },

    /**
     * Deletes the account (the password must be right): grants and tokens revoked, personal data
     * erased; the audit entries stay, without the address and device they held.
     */
    async deleteAccount(citizenId: string, password: string, ip: string): Promise<void> {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) throw new InputError('account_unknown');
      await checkCurrentPassword(citizen, password, 'password');
      const nik = await citizens.nikOf(citizenId);
      await db.transaction(async (tx) => {
        await endAccountSessions(tx, citizenId);
        await tx.query('delete from population_checks where nik_hash = $1', [sealer.keyedHash('nik', nik!)]);
        await tx.query('delete from outbox where lower(to_address) = lower($1)', [citizen.email]);
        await tx.query('update citizens set verified_by = null where verified_by = $1', [citizenId]);
        await tx.query('delete from citizens where id = $1', [citizenId]);
        await tx.query("update audit_events set ip = null, details = details - 'userAgent' where citizen_id = $1", [citizenId]);
        await audit({ type: 'account.deleted', citizenId }, tx);
      });
    },

    /**
     * Revokes a grant of this citizen to a unit's service, with every token issued under it; the
     * service must ask for consent again. False when the grant is not this citizen's.
     */
    async revokeService(citizenId: string, grantId: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ client_id: string }>(
          `select payload->>'clientId' as client_id from oidc_payloads
           where model = 'Grant' and id = $1 and payload->>'accountId' = $2 and payload->>'clientId' <> $3`,
          [grantId, citizenId, PORTAL_CLIENT_ID],
        );
        if (!rows[0]) return false;
        await tx.query("delete from oidc_payloads where grant_id = $1 or (model = 'Grant' and id = $1)", [grantId]);
        await audit({ type: 'consent.revoked', citizenId, clientId: rows[0].client_id, ip }, tx);
        return true;
      });
    },

    /** Everything held about the account, for "download my data" (the NIK included: it is theirs). */
    async export(citizenId: string) {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) return undefined;
      const { rows } = await db.query<Record<string, unknown>>(
        `select verified_at, verification_method, created_at, password_changed_at from citizens where id = $1`,
        [citizenId],
      );
      return {
        exportedAt: new Date().toISOString(),
        account: { ...citizen, nik: await citizens.nikOf(citizenId), ...rows[0] },
        connectedServices: await connectedServices(citizenId),
        activity: await activity(citizenId, 10_000),
      };
    },
  };
}

export type Account = ReturnType<typeof createAccount>;
