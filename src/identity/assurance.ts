import type { Citizen } from './citizens.js';

/** The assurance levels (README.md, "Assurance levels"), as OIDC acr values. */
export const ACR = {
  basic: 'urn:kediri:acr:basic',
  verified: 'urn:kediri:acr:verified',
  verifiedMfa: 'urn:kediri:acr:verified-mfa',
} as const;

export const ACR_VALUES: string[] = Object.values(ACR);

/** A level by its short name (the acr's last part). */
export type AssuranceLevel = 'basic' | 'verified' | 'verified-mfa';

/** The amr values (RFC 8176) of a second factor: a TOTP app or recovery code, a passkey. */
const SECOND_FACTORS = ['otp', 'hwk', 'swk'];

const DOWN_FROM: Record<AssuranceLevel, string[]> = {
  'verified-mfa': [ACR.verifiedMfa, ACR.verified, ACR.basic],
  verified: [ACR.verified, ACR.basic],
  basic: [ACR.basic],
};

/**
 * What this account reaches in a login that used the methods `amr`, strongest first. The methods
 * decide: only a login with the password ('pwd') reaches beyond basic, and a second factor besides
 * reaches verified-mfa. A login by a code sent to the phone alone ('sms', 'whatsapp') stays basic,
 * whatever the account's assurance and whatever else it used. A login at an upstream ('fed')
 * reaches what the upstream proved (`upstreamLevel`), and of a verified account only; with the
 * account's own second factor after it, a verified identity reaches verified-mfa.
 */
function reachable(citizen: Pick<Citizen, 'assurance'>, amr: readonly string[], upstreamLevel: AssuranceLevel): string[] {
  if (citizen.assurance !== 'verified') return DOWN_FROM.basic;
  // What the upstream proved; an identity it verified and our own second factor besides reach verified-mfa.
  if (amr.includes('fed')) return DOWN_FROM[upstreamLevel === 'verified' && amr.some((m) => SECOND_FACTORS.includes(m)) ? 'verified-mfa' : upstreamLevel];
  if (!amr.includes('pwd')) return DOWN_FROM.basic;
  return amr.some((m) => SECOND_FACTORS.includes(m)) ? DOWN_FROM['verified-mfa'] : DOWN_FROM.verified;
}

/**
 * The acr of a login that used the methods `amr`: without acr_values the strongest the account
 * reaches; with them (in the client's order of preference) the first one it reaches; undefined
 * when it reaches none.
 */
export function acrForLogin(acrValues: unknown, citizen: Pick<Citizen, 'assurance'>, amr: readonly string[], upstreamLevel: AssuranceLevel = 'basic'): string | undefined {
  const can = reachable(citizen, amr, upstreamLevel);
  const requested = typeof acrValues === 'string' ? acrValues.split(' ').filter(Boolean) : [];
  if (requested.length === 0) return can[0];
  return requested.find((acr) => can.includes(acr));
}

/**
 * Whether a login without a password (a code sent to the phone, amr `method`) can meet this
 * authorization request's acr_values: only when it asks for none, or names the basic level.
 */
export function passwordlessMeets(acrValues: unknown, method: string): boolean {
  return acrForLogin(acrValues, { assurance: 'verified' }, [method]) !== undefined;
}

/** The weakest requested level, to explain what the citizen lacks: 'verified' or 'verified-mfa'. */
export function missingLevel(acrValues: unknown): 'verified' | 'verified-mfa' {
  const requested = typeof acrValues === 'string' ? acrValues.split(' ') : [];
  return requested.includes(ACR.verified) ? 'verified' : 'verified-mfa';
}
