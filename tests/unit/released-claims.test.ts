import { describe, expect, test } from '@jest/globals';
import { claimsOfScopes, inClaimOrder, releasedClaims } from '../../src/oidc/released-claims.js';

/** A consent as oidc-provider's Grant gives it: scopes and named claims consented, claims declined. */
function grant(scope: string, claims: string[] = [], rejected: string[] = []) {
  return {
    jti: 'grant-1',
    getOIDCScopeFiltered: (filter: Set<string>) => scope.split(' ').filter((s) => filter.has(s)).join(' '),
    getOIDCClaimsFiltered: (filter: Set<string>) => claims.filter((c) => filter.has(c)),
    getRejectedOIDCClaims: () => rejected,
  };
}
const EVERYTHING = new Set(['sub', 'name', 'birthdate', 'gender', 'updated_at', 'email', 'email_verified', 'phone_number', 'phone_number_verified', 'nik', 'nik_verified']);

describe('the claims a token response releases', () => {
  test('the consented scopes\' claims the account has, without the facts about the login', () => {
    expect(releasedClaims({ scope: 'openid profile email' }, grant('openid profile email'), undefined, EVERYTHING))
      .toEqual(['birthdate', 'email', 'email_verified', 'gender', 'name', 'sub', 'updated_at']);
    // No address on the account: none released.
    expect(releasedClaims({ scope: 'openid address' }, grant('openid address'), undefined, EVERYTHING)).toEqual(['sub']);
  });

  test('a scope asked for but not consented, or narrowed away at a refresh, is not released', () => {
    expect(releasedClaims({ scope: 'openid profile nik' }, grant('openid profile'), undefined, EVERYTHING)).not.toContain('nik');
    expect(releasedClaims({ scope: 'openid profile email' }, grant('openid profile email'), new Set(['openid', 'email']), EVERYTHING))
      .toEqual(['email', 'email_verified', 'sub']);
  });

  test('claims asked for by name count when consented; declined ones do not; sub always', () => {
    const source = { scope: 'openid email', claims: { id_token: { name: null }, userinfo: { birthdate: null, nik: null } } };
    expect(releasedClaims(source, grant('openid email', ['name', 'birthdate'], ['email_verified', 'sub']), undefined, EVERYTHING))
      .toEqual(['birthdate', 'email', 'name', 'sub']);
  });

  test('without openid there is no ID token and no userinfo: nothing', () => {
    expect(releasedClaims({ scope: 'profile' }, grant('profile'), undefined, EVERYTHING)).toEqual([]);
  });

  test('scopes name their claims, shown in the scopes\' order', () => {
    expect(claimsOfScopes(['openid', 'nik'])).toEqual(['sub', 'nik', 'nik_verified']);
    expect(inClaimOrder(['nik', 'email', 'sub', 'unknown', 'name'])).toEqual(['sub', 'name', 'email', 'nik', 'unknown']);
  });
});
