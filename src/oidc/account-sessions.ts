import type { Db, Queryable } from '../db/db.js';
import { clientLabels } from '../clients/clients.js';
import type { AccountSessions } from '../identity/sessions.js';
import {
  accountGrants, accountSessions, clientGrants, deleteAccountPayloads, deleteGrants, deleteSession, dropClientFromSessions, enqueueSessionLogouts, grantClient,
  sessionGrants,
} from './payloads.js';
import { PORTAL_CLIENT_ID } from './portal-client.js';

/**
 * Ends every session of an account and revokes every grant and token issued to it, and drops the
 * interactions in which it has signed in but not yet finished (a login entered just before a
 * password reset must not complete after it). An email change begun in one of those sessions ends
 * too: its link works without a session, and must not outlive a password change by someone who
 * noticed an intruder. Every relying party that took part in one of the sessions is sent a
 * back-channel logout.
 */
async function endAccountSessions(on: Queryable, accountId: string): Promise<void> {
  await enqueueSessionLogouts(on, accountId);
  await on.query(
    "update account_tokens set consumed_at = now() where citizen_id = $1 and purpose = 'change_email' and consumed_at is null",
    [accountId],
  );
  await deleteAccountPayloads(on, accountId);
}

/** The account's sessions and grants as identity sees them (src/identity/sessions.ts). */
export function createAccountSessions(db: Db): AccountSessions {
  return {
    async connectedServices(accountId) {
      const grants = await accountGrants(db, accountId);
      const labels = await clientLabels(db, [...new Set(grants.map((g) => g.clientId))]);
      return grants.flatMap(({ scope, ...grant }) => {
        const label = labels.get(grant.clientId);
        return label ? [{ ...grant, name: label.name, unitName: label.unitName, scopes: (scope ?? '').split(' ').filter(Boolean) }] : [];
      });
    },

    async list(accountId) {
      const rows = await accountSessions(db, accountId);
      const labels = await clientLabels(db, [...new Set(rows.flatMap((r) => Object.keys(r.authorizations ?? {})))]);
      return rows.map((r) => ({
        id: r.id,
        signedInAt: new Date(Number(r.login_ts) * 1000),
        userAgent: r.user_agent,
        ip: r.ip,
        services: Object.keys(r.authorizations ?? {}).flatMap((clientId) => (labels.has(clientId) ? [labels.get(clientId)!.name] : [])),
      }));
    },

    async endOne(tx, accountId, sessionId) {
      const grants = await sessionGrants(tx, accountId, sessionId);
      if (!grants) return false;
      await enqueueSessionLogouts(tx, accountId, { sessionId });
      await deleteSession(tx, sessionId);
      await deleteGrants(tx, grants);
      return true;
    },

    endAll: endAccountSessions,

    async revokeGrant(tx, accountId, grantId) {
      const clientId = await grantClient(tx, accountId, grantId, PORTAL_CLIENT_ID);
      if (clientId === undefined) return undefined;
      await enqueueSessionLogouts(tx, accountId, { clientId });
      // A later sign-in to the service in the same session gets a new sid, which a later logout names.
      await dropClientFromSessions(tx, accountId, clientId);
      await deleteGrants(tx, await clientGrants(tx, accountId, clientId));
      return clientId;
    },
  };
}
