import { clientLabels, signInEntry } from '../../clients/clients.js';
import type { Db } from '../../db/db.js';
import { liveInteractionClient } from '../../oidc/payloads.js';
import { PORTAL_CLIENT_ID } from '../../oidc/portal-client.js';

/**
 * Where a citizen goes once their account is verified: back into the sign-in they came from while
 * it is under way (`resume`); when it has expired, to the service's own sign-in through
 * /layanan/masuk (`service`); else, or when they came from Kediri ID's own pages, to their account.
 */
export type NextStep = { kind: 'resume'; href: string; service?: string } | { kind: 'service'; href: string; service: string } | { kind: 'account'; href: '/akun' };

/** The interaction page's uid, of a path `continuePath` let through (/interaction/UID). */
const uidOf = (path: string) => path.slice('/interaction/'.length);

/** The client of the sign-in this path continues, while it is under way (for the verification cookie). */
export async function clientOfSignIn(db: Db, continueTo: string): Promise<string> {
  return (continueTo && (await liveInteractionClient(db, uidOf(continueTo)))) || '';
}

/** The next step after verifying, from the sign-in the registration began in (`continueTo`) and its client. */
export async function nextStepAfterVerifying(db: Db, { continueTo, clientId }: { continueTo: string; clientId: string }): Promise<NextStep> {
  const live = continueTo ? await liveInteractionClient(db, uidOf(continueTo)) : undefined;
  const client = live ?? clientId;
  const service = client && client !== PORTAL_CLIENT_ID ? (await clientLabels(db, [client])).get(client)?.name : undefined;
  if (live) return { kind: 'resume', href: continueTo, ...(service && { service }) };
  if (service && (await signInEntry(db, client))) return { kind: 'service', href: `/layanan/masuk/${encodeURIComponent(client)}`, service };
  return { kind: 'account', href: '/akun' };
}
