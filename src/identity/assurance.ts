import type { Citizen } from './citizens.js';

/** The assurance levels (README.md, "Assurance levels"), as OIDC acr values. */
export const ACR = {
  basic: 'urn:kediri:acr:basic',
  verified: 'urn:kediri:acr:verified',
  verifiedMfa: 'urn:kediri:acr:verified-mfa',
} as const;

export const ACR_VALUES: string[] = Object.values(ACR);

/** What this account reaches in this login (mfa: a second factor was used), strongest first. */
function reachable(citizen: Pick<Citizen, 'assurance'>, mfa: boolean): string[] {
  if (citizen.assurance !== 'verified') return [ACR.basic];
  return mfa ? [ACR.verifiedMfa, ACR.verified, ACR.basic] : [ACR.verified, ACR.basic];
}

/**
 * The acr of this login: without acr_values the strongest the account reaches; with them (in the
 * client's order of preference) the first one it reaches; undefined when it reaches none.
 */
export function acrForLogin(acrValues: unknown, citizen: Pick<Citizen, 'assurance'>, mfa: boolean): string | undefined {
  const can = reachable(citizen, mfa);
  const requested = typeof acrValues === 'string' ? acrValues.split(' ').filter(Boolean) : [];
  if (requested.length === 0) return can[0];
  return requested.find((acr) => can.includes(acr));
}

/** The weakest requested level, to explain what the citizen lacks: 'verified' or 'verified-mfa'. */
export function missingLevel(acrValues: unknown): 'verified' | 'verified-mfa' {
  const requested = typeof acrValues === 'string' ? acrValues.split(' ') : [];
  return requested.includes(ACR.verified) ? 'verified' : 'verified-mfa';
}
