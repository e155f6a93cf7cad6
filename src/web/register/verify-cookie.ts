import { hasFields, jsonCookie } from '../json-cookie.js';

/** What the browser that registered (or tried to sign in unverified) needs for the code form. */
export interface PendingVerification {
  citizenId: string;
  /** The verification token whose code the form accepts. */
  tokenId: string;
  /** The masked email the code went to. */
  maskedEmail: string;
  /** Where to continue after verifying: an interaction page, or ''. */
  continueTo: string;
}

/** A day long: the lifetime of the code. */
export const pendingVerification = jsonCookie('kid.verify', 24 * 3600 * 1000, (v): v is PendingVerification =>
  hasFields(v, { citizenId: 'string', tokenId: 'string', maskedEmail: 'string', continueTo: 'string' }),
);

/** Only an interaction page of this server is a place to continue to (no open redirect). */
export function continuePath(value: unknown): string {
  return typeof value === 'string' && /^\/interaction\/[A-Za-z0-9_-]{1,64}$/.test(value) ? value : '';
}
