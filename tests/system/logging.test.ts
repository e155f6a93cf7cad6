import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI } from '../support/fixtures.js';
import { createClientByCli, createSitiByCli, processEnvironment, startServe, type Served } from '../support/process.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';

const BUDI = {
  nik: '3571020512880003', name: 'Budi Santoso', birth_day: '5', birth_month: '12', birth_year: '1988',
  email: 'budi@example.id', phone: '0812 3456 7890', password: 'sepeda-biru-di-jalan-dhoho',
};

/**
 * The log of a real server process at debug level, after the flows that carry secrets: a
 * registration with a NIK, logins right and wrong, consent, the code exchange, refresh, userinfo,
 * introspection, revocation, client credentials, a password reset request. None of the secrets
 * may appear in it; every line is JSON; every request has its line, under its id.
 */
describe('logs', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;
  let served: Served;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    setup = await processEnvironment({ LOG_LEVEL: 'debug' });
    const { clientId, clientSecret } = await createClientByCli(setup.env, ['--scope', 'openid offline_access profile',
      '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--grant-type', 'client_credentials']);
    await createSitiByCli(setup.env);
    served = await startServe(setup.env, { captureOutput: true });
    Object.assign(secrets, { siti_nik: SITI.nik, siti_password: SITI.password, budi_nik: BUDI.nik, budi_password: BUDI.password, client_secret: clientSecret });

    const register = new Agent(setup.issuer);
    const form = csrfTokenOf(await (await register.request('/daftar')).text());
    expect((await register.post('/daftar', { _csrf: form, password_confirm: BUDI.password, privacy: 'ya', ...BUDI })).status).toBe(303);

    const rp = await relyingParty(setup.issuer, clientId, clientSecret);
    const wrong = await authorizationRequest(rp);
    await expect(signIn(new Agent(setup.issuer), wrong.url, SITI.email, 'tebakan-yang-salah-sekali')).rejects.toThrow('login answered 400');
    secrets.wrong_password = 'tebakan-yang-salah-sekali';

    const request = await authorizationRequest(rp, { scope: 'openid offline_access profile', prompt: 'consent' });
    const browser = new Agent(setup.issuer);
    const callback = await signIn(browser, request.url, SITI.nik, SITI.password);
    secrets.code = new URL(callback).searchParams.get('code')!;
    secrets.code_verifier = request.checks.pkceCodeVerifier;
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
    Object.assign(secrets, { access_token: tokens.access_token, refresh_token: tokens.refresh_token!, id_token: tokens.id_token! });
    await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
    await oidc.tokenIntrospection(rp, tokens.access_token);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    secrets.refreshed_access_token = refreshed.access_token;
    await oidc.tokenRevocation(rp, refreshed.refresh_token!);
    secrets.client_credentials_token = (await oidc.clientCredentialsGrant(rp)).access_token;
    for (const cookie of browser.cookieValues()) secrets[`cookie ${cookie.slice(0, 6)}`] = cookie;

    const reset = new Agent(setup.issuer);
    const resetForm = csrfTokenOf(await (await reset.request('/lupa-sandi')).text());
    await reset.post('/lupa-sandi', { _csrf: resetForm, contact: SITI.email });
    await served.stop();
  }, 120_000);
  afterAll(async () => {
    await served?.stop();
    await setup?.cleanup();
  });

  test('holds no NIK, password, client secret, code, token or cookie', () => {
    const log = served.stdout();
    expect(log.length).toBeGreaterThan(1000);
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length).toBeGreaterThanOrEqual(6);
      expect({ name, found: log.includes(value) }).toEqual({ name, found: false });
    }
  });

  test('is one JSON object a line: a line per request with its id, and security events under the id of their request', () => {
    const lines = served.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(20);
    for (const line of requests) {
      expect(line).toMatchObject({ requestId: expect.stringMatching(/^[0-9a-f-]{36}$/), method: expect.any(String), route: expect.any(String), status: expect.any(Number), ms: expect.any(Number) });
    }
    expect(requests.map((l) => l.route)).toEqual(expect.arrayContaining(['/token', '/interaction/:uid/login', '/daftar', '/me']));

    const failed = lines.find((l) => l.securityEvent === 'login.failed')!;
    expect(failed).toMatchObject({ msg: 'security event', requestId: expect.any(String), ip: expect.any(String) });
    const itsRequest = requests.find((l) => l.requestId === failed.requestId)!;
    expect(itsRequest).toMatchObject({ method: 'POST', route: '/interaction/:uid/login', status: 400 });
    expect(lines.filter((l) => l.securityEvent === 'login.succeeded')).toHaveLength(1);
  });
});
