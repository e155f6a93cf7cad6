import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { PORTAL_CLIENT_ID } from '../oidc/portal-client.js';
import type { CitizenStore } from './citizens.js';

export interface ConnectedService {
  grantId: string;
  clientId: string;
  name: string;
  unitName: string;
  scopes: string[];
  since: Date;
}

export interface ActivityEntry {
  type: string;
  at: Date;
  ip: string | null;
  clientId: string | null;
}

/** What the citizen's account page (/akun) shows and does: connected services, activity, export. */
export function createAccount(db: Db, citizens: CitizenStore, audit: Audit) {
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
