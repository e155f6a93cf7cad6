import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Agent, signIn } from '../support/agent.js';
import { AFTER_LOGOUT, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

let server: TestServer;
let rp: oidc.Configuration;
let citizenId: string;
/** The sub this unit's services see for the citizen (pairwise per unit). */
let sub: string;

beforeAll(async () => {
  server = await startTestServer({ REFRESH_TOKEN_REUSE_GRACE_SECONDS: '1' });
  citizenId = (await createCitizen(server.instance)).id;
  sub = pairwiseSubject(server.instance.sealer, 'dispendukcapil', citizenId);
  const { clientId, clientSecret } = await createWebClient(server.instance);
  rp = await relyingParty(server.url, clientId, clientSecret);
});

afterAll(() => server.close());

async function authorize(scope = 'openid profile email offline_access') {
  const request = await authorizationRequest(rp, { scope, prompt: 'consent' });
  const agent = new Agent(server.url);
  const callback = await signIn(agent, request.url, SITI.nik, SITI.password);
  return { agent, callback, checks: request.checks };
}

describe('authorization code flow as a relying party', () => {
  test.each(['3571 0141 0190 0001', '3571.0141.0190.0001', '3571-0141-0190-0001'])('the NIK typed as printed on the KTP-el (%s) signs in', async (nik) => {
    const request = await authorizationRequest(rp, { scope: 'openid' });
    const callback = await signIn(new Agent(server.url), request.url, nik, SITI.password);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
    expect(tokens.claims()!.sub).toBe(sub);
  });

  test('discovery reports the flows and the strict settings', () => {
    const meta = rp.serverMetadata();
    expect(meta.issuer).toBe(server.url);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.response_types_supported).toEqual(['code']);
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    for (const endpoint of ['jwks_uri', 'userinfo_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
      expect(meta[endpoint]).toMatch(new RegExp(`^${server.url}/`));
    }
  });

  test('login, consent, code exchange, ID token, userinfo, refresh with reuse detection, introspection, revocation, logout', async () => {
    const { callback, checks } = await authorize();
    expect(callback).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);

    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), checks);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(sub);
    expect(claims.iss).toBe(server.url);
    expect(claims.acr).toBe('urn:kediri:acr:basic');
    expect(claims.amr).toEqual(['pwd']);
    expect(tokens.refresh_token).toBeTruthy();

    // The ID token verifies against the published JWKS, independently of openid-client.
    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
    const verified = await jwtVerify(tokens.id_token!, jwks, { issuer: server.url, audience: rp.clientMetadata().client_id });
    expect(verified.protectedHeader.alg).toBe('RS256');

    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub, name: SITI.name, birthdate: SITI.birthdate, gender: 'female', email: SITI.email });
    expect(JSON.stringify(userinfo)).not.toContain(SITI.nik);

    // Rotation: each refresh returns a new refresh token; two concurrent refreshes inside the
    // grace window both succeed; a rotated token used after it is reuse and ends the grant.
    const second = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(tokens.refresh_token);
    const [a, b] = await Promise.all([
      oidc.refreshTokenGrant(rp, second.refresh_token!),
      oidc.refreshTokenGrant(rp, second.refresh_token!),
    ]);
    expect(a.access_token).toBeTruthy();
    expect(b.access_token).toBeTruthy();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Reuse revoked the whole grant: the newest tokens are dead too.
    await expect(oidc.refreshTokenGrant(rp, a.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, b.access_token)).active).toBe(false);

    // A fresh grant for introspection, revocation and logout.
    const fresh = await authorize('openid profile');
    const live = await oidc.authorizationCodeGrant(rp, new URL(fresh.callback), fresh.checks);
    const introspected = await oidc.tokenIntrospection(rp, live.access_token);
    expect(introspected).toMatchObject({ active: true, sub, client_id: rp.clientMetadata().client_id });
    await oidc.tokenRevocation(rp, live.access_token);
    expect((await oidc.tokenIntrospection(rp, live.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(rp, live.access_token, sub)).rejects.toBeDefined();

    // RP-initiated logout: confirm page, then the post-logout redirect; the session is gone.
    const endSession = oidc.buildEndSessionUrl(rp, { id_token_hint: live.id_token!, post_logout_redirect_uri: AFTER_LOGOUT, state: 'bye' });
    const confirm = await fresh.agent.follow(endSession.toString());
    expect(confirm.res!.status).toBe(200);
    const page = await confirm.res!.text();
    expect(page).toContain('op.logoutForm');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
    const confirmAction = new URL(/action="([^"]+)"/.exec(page)![1]!, server.url).toString();
    const done = await fresh.agent.post(confirmAction, { xsrf, logout: 'yes' });
    const afterLogout = await fresh.agent.follow(done.headers.get('location')!);
    expect(afterLogout.url).toBe(`${AFTER_LOGOUT}?state=bye`);
    // A new authorization request from the same browser needs a login again.
    const again = await fresh.agent.follow((await authorizationRequest(rp)).url);
    expect(await again.res!.text()).toContain('name="password"');
  });

  test('prompt=login and max_age force a new login in a browser that has a session', async () => {
    const { agent } = await authorize('openid');
    for (const params of [{ prompt: 'login' }, { max_age: '0' }, {}] as Record<string, string>[]) {
      const { res, url } = await agent.follow((await authorizationRequest(rp, params)).url);
      const asksPassword = url.includes('/interaction/') && (await res!.text()).includes('name="password"');
      // Without either, the session is used as it is.
      expect({ params, asksPassword }).toEqual({ params, asksPassword: Object.keys(params).length > 0 });
    }
  });

  test('client credentials for service-to-service calls', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, {});
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBeLessThanOrEqual(600);
    const introspected = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, client_id: rp.clientMetadata().client_id });
    expect(introspected.sub).toBeUndefined();
  });
});
