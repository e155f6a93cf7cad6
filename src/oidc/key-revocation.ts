import type { Audit } from '../audit/audit.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../db/db.js';
import { keyRevokedEmail } from '../email/messages.js';
import type { Outbox } from '../email/outbox.js';
import type { Staff } from '../identity/staff.js';
import { REFRESH_MS, type SigningKeys } from './keys.js';
import { deleteSessionsSignedInBy, enqueueLogoutsOfSessionsSignedInBy } from './payloads.js';

export interface KeyRevocation {
  kid: string;
  alg: string;
  /** The key's state when it was revoked: current, next or previous. */
  state: string;
  /** The key that signs in its place (when it was the current key). */
  replacedBy: string | null;
  endSessions: boolean;
  sessionsEnded: number;
  refreshTokensRevoked: number;
  developersEmailed: number;
}

/**
 * Ends what may hold tokens the key signed: every live session signed in before the key stopped
 * signing in every process (a session that lived while the key signed may have been given an ID
 * token by it at any of its authorizations), with the grants made in it and their tokens, and every
 * refresh token issued before then (a refresh gives a new ID token). Their relying parties are sent
 * back-channel logouts through the outbox. Audited with the counts.
 */
async function endSessionsSignedUntilNow(db: Db, audit: Audit, actor: string, kid: string) {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ by: Date }>('select clock_timestamp() as by');
    const by = rows[0]!.by;
    await enqueueLogoutsOfSessionsSignedInBy(tx, by);
    const ended = await deleteSessionsSignedInBy(tx, by);
    await audit({ type: 'keys.sessions_ended', actor, details: { kid, signedInBy: by, sessionsEnded: ended.sessions, refreshTokensRevoked: ended.refreshTokens } }, tx);
    return ended;
  });
}

/**
 * An emergency key change (a key known or feared compromised): the key leaves the JWKS and stops
 * signing at once in every process, a key of its algorithm signs in its place, every unit
 * developer is emailed what their service must do, and it is audited, in one transaction. When
 * asked, the sessions and refresh tokens it may have signed for end after that: once every process
 * has stopped signing with it (at once when it hears the announcement, within REFRESH_MS when it
 * did not), so that none signed in meanwhile is missed. A key that never signed (next) ends nothing.
 */
export function createKeyRevocation(deps: { db: Db; signingKeys: SigningKeys; staff: Pick<Staff, 'list'>; outbox: Outbox; audit: Audit; issuer: string }) {
  const { db, signingKeys, staff, outbox, audit, issuer } = deps;
  return {
    async revoke(kid: string, { actor, endSessions }: { actor: string; endSessions: boolean }): Promise<KeyRevocation> {
      const developers = (await staff.list()).filter((member) => member.roles.includes('developer') && member.email);
      const result = await signingKeys.revoke(kid, async (tx, revoked) => {
        const notice = { kid, alg: revoked.alg, at: new Date(), replacedBy: revoked.replacedBy, sessionsEnded: endSessions, jwksUri: `${issuer}/jwks` };
        for (const developer of developers) await outbox.enqueue(keyRevokedEmail(developer.email, developer.name, notice), tx);
        const revocation: KeyRevocation = {
          kid,
          alg: revoked.alg,
          state: revoked.state,
          replacedBy: revoked.replacedBy,
          endSessions,
          sessionsEnded: 0,
          refreshTokensRevoked: 0,
          developersEmailed: developers.length,
        };
        await audit({ type: 'keys.revoked', actor, details: { ...revocation, signedFrom: revoked.signedFrom, signedUntil: revoked.signedUntil } }, tx);
        return { revocation, signed: revoked.signedUntil !== null };
      });
      if (!endSessions || !result.signed) return result.revocation;
      await sleep(REFRESH_MS + 1000);
      const ended = await endSessionsSignedUntilNow(db, audit, actor, kid);
      return { ...result.revocation, sessionsEnded: ended.sessions, refreshTokensRevoked: ended.refreshTokens };
    },
  };
}

export type KeyRevocations = ReturnType<typeof createKeyRevocation>;
