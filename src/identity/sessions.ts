import type { Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import type { CitizenStore } from './citizens.js';

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

/**
 * What identity needs of the sign-in sessions and grants the provider stores. src/oidc implements
 * it (account-sessions.ts) and services.ts hands it in: identity does not import src/oidc, which
 * reads accounts from identity. Each `tx` is the caller's transaction.
 */
export interface AccountSessions {
  /** The services the account gave consent to (its live grants), newest first. */
  connectedServices(accountId: string): Promise<ConnectedService[]>;
  /** The account's live sign-in sessions, newest first. */
  list(accountId: string): Promise<SignInSession[]>;
  /** Ends one session of the account with the grants made in it (its relying parties get a back-channel logout); false when it is not the account's. */
  endOne(tx: Queryable, accountId: string, sessionId: string): Promise<boolean>;
  /** Ends every session of the account and revokes every grant and token (relying parties get a back-channel logout). */
  endAll(tx: Queryable, accountId: string): Promise<void>;
  /**
   * Revokes every grant of the account to the relying party of this grant (not the portal's own),
   * with their tokens, and ends its part in the account's sessions (it gets a back-channel logout);
   * its client, or undefined when the grant is not the account's.
   */
  revokeGrant(tx: Queryable, accountId: string, grantId: string): Promise<string | undefined>;
}

/**
 * "End all sessions", the one way (the citizen on /akun, an administrator, a lock): every session,
 * grant and token ends, the portal's own session too (sessions_ended_at), and it is audited.
 */
export async function endAllSessions(
  tx: Queryable,
  { sessions, citizens, audit }: { sessions: AccountSessions; citizens: CitizenStore; audit: Audit },
  citizenId: string,
  ip: string,
  actor?: string,
): Promise<void> {
  await sessions.endAll(tx, citizenId);
  await citizens.markSessionsEnded(tx, citizenId);
  await audit({ type: 'session.ended', ...(actor && { actor }), citizenId, ip, details: { all: true } }, tx);
}
