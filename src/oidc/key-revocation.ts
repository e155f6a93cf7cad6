import type { Audit } from '../audit/audit.js';
import type { Queryable } from '../db/db.js';
import { keyRevokedEmail } from '../email/messages.js';
import type { Outbox } from '../email/outbox.js';
import type { Staff } from '../identity/staff.js';
import type { SigningKeys } from './keys.js';
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
 * signing (a session that lived while the key signed may have been given an ID token by it at any
 * of its authorizations), with the grants made in it and their tokens, and every refresh token
 * issued before then (a refresh gives a new ID token). Their relying parties are sent back-channel
 * logouts through the outbox. A key that never signed (next) ended nothing.
 */
async function endSessionsOfKey(tx: Queryable, signedUntil: Date | null) {
  if (!signedUntil) return { sessions: 0, refreshTokens: 0 };
  await enqueueLogoutsOfSessionsSignedInBy(tx, signedUntil);
  return deleteSessionsSignedInBy(tx, signedUntil);
}

/**
 * An emergency key change (a key known or feared compromised): the key leaves the JWKS and stops
 * signing at once in every process, a key of its algorithm signs in its place, the sessions and
 * refresh tokens it may have signed for end when asked, every unit developer is emailed what their
 * service must do, and it is audited, all in one transaction.
 */
export function createKeyRevocation(deps: { signingKeys: SigningKeys; staff: Pick<Staff, 'list'>; outbox: Outbox; audit: Audit; issuer: string }) {
  const { signingKeys, staff, outbox, audit, issuer } = deps;
  return {
    async revoke(kid: string, { actor, endSessions }: { actor: string; endSessions: boolean }): Promise<KeyRevocation> {
      const developers = (await staff.list()).filter((member) => member.roles.includes('developer') && member.email);
      return signingKeys.revoke(kid, async (tx, revoked) => {
        const ended = endSessions ? await endSessionsOfKey(tx, revoked.signedUntil) : { sessions: 0, refreshTokens: 0 };
        const notice = { kid, alg: revoked.alg, at: new Date(), replacedBy: revoked.replacedBy, sessionsEnded: endSessions, jwksUri: `${issuer}/jwks` };
        for (const developer of developers) await outbox.enqueue(keyRevokedEmail(developer.email, developer.name, notice), tx);
        const result: KeyRevocation = {
          kid,
          alg: revoked.alg,
          state: revoked.state,
          replacedBy: revoked.replacedBy,
          endSessions,
          sessionsEnded: ended.sessions,
          refreshTokensRevoked: ended.refreshTokens,
          developersEmailed: developers.length,
        };
        await audit({ type: 'keys.revoked', actor, details: { ...result, signedFrom: revoked.signedFrom, signedUntil: revoked.signedUntil } }, tx);
        return result;
      });
    },
  };
}

export type KeyRevocations = ReturnType<typeof createKeyRevocation>;
