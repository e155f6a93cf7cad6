import type { KoaContextWithOIDC } from 'oidc-provider';
import { releaseStatement } from '../audit/data-releases.js';
import { PORTAL_CLIENT_ID } from './portal-client.js';
import { thisRequest } from './request-state.js';

/** The claims of each scope (the provider's `claims` setting; PRODUCT.md "Claims and scopes"). */
export const SCOPE_CLAIMS = {
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  profile: ['name', 'birthdate', 'gender', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
  nik: ['nik', 'nik_verified'],
} as const satisfies Record<string, readonly string[]>;

/** Facts about the login, not about the citizen: not personal data released. */
const ABOUT_THE_LOGIN = new Set(['acr', 'amr', 'auth_time']);

/** The claims of these scopes (personal data only). */
export const claimsOfScopes = (scopes: Iterable<string>): string[] =>
  [...new Set([...scopes].flatMap((scope) => (SCOPE_CLAIMS as Record<string, readonly string[]>)[scope] ?? []))].filter((c) => !ABOUT_THE_LOGIN.has(c));

const ORDER: string[] = Object.values(SCOPE_CLAIMS).flat();

/** Claim names in the order of their scopes (sub, name, birthdate ... nik), unknown ones last. */
export const inClaimOrder = (claims: readonly string[]): string[] =>
  [...claims].sort((a, b) => (ORDER.indexOf(a) >>> 0) - (ORDER.indexOf(b) >>> 0) || a.localeCompare(b));

/** What a grant source (an authorization code, a refresh token, a device code, a counter's request) says the client asked for. */
interface GrantSource {
  scope?: string;
  claims?: { id_token?: Record<string, unknown>; userinfo?: Record<string, unknown> };
  grantId?: string;
}

/** The part of oidc-provider's Grant that says what was consented to. */
interface ConsentedGrant {
  jti: string;
  getOIDCScopeFiltered(filter: Set<string>): string;
  getOIDCClaimsFiltered(filter: Set<string>): string[];
  getRejectedOIDCClaims(): string[];
}

/**
 * The personal claims a token response gives a client: those of its ID token and those its access
 * token reaches at userinfo. Together they are the claims of the consented scopes plus those
 * asked for by name (the `claims` parameter) and consented, less those the citizen declined, of
 * the claims the account has (`available`). With oidc-provider's conformIdTokenClaims, the ID
 * token carries the scope's claims only when the access token cannot reach userinfo, so the union
 * is the same either way. Without openid there is neither: nothing is released.
 */
export function releasedClaims(source: GrantSource, grant: ConsentedGrant, requestedScope: Set<string> | undefined, available: Set<string>): string[] {
  const scopes = new Set(grant.getOIDCScopeFiltered(requestedScope ?? new Set((source.scope ?? '').split(' '))).split(' ').filter(Boolean));
  if (!scopes.has('openid')) return [];
  const asked = [...Object.keys(source.claims?.id_token ?? {}), ...Object.keys(source.claims?.userinfo ?? {})];
  const rejected = new Set(grant.getRejectedOIDCClaims());
  const names = new Set([...claimsOfScopes(scopes), ...grant.getOIDCClaimsFiltered(new Set(asked)).filter((c) => !ABOUT_THE_LOGIN.has(c))]);
  return [...names].filter((claim) => available.has(claim) && (claim === 'sub' || !rejected.has(claim))).sort();
}

/**
 * At the token endpoint, as the provider looks up the account of a code or token (findAccount,
 * after the grant is read and before any token is stored): the release this response will make,
 * held by the request until it stores its access token, in front of which it is written (it adds
 * no statement); dropped when the request fails before (a replayed refresh token releases
 * nothing). Kediri ID's own portal is not a recipient.
 */
export function expectRelease(ctx: KoaContextWithOIDC | undefined, citizenId: string, token: unknown, available: Set<string>): void {
  const oidc = ctx?.oidc;
  if (!oidc || oidc.route !== 'token' || !token || !oidc.client || oidc.client.clientId === PORTAL_CLIENT_ID) return;
  const grant = oidc.entities.Grant as ConsentedGrant | undefined;
  const request = thisRequest();
  if (!grant || !request) return;
  const narrowed = typeof oidc.params?.scope === 'string' && oidc.params.scope ? new Set(oidc.params.scope.split(' ')) : undefined;
  const claims = releasedClaims(token as GrantSource, grant, narrowed, available);
  if (claims.length === 0) return;
  request.withAccessToken = [releaseStatement({ citizenId, clientId: oidc.client.clientId, grantId: grant.jti, claims })];
}
