import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let clientId: string;
let clientSecret: string;
let rp: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  ({ clientId, clientSecret } = await createWebClient(server.instance));
  rp = await relyingParty(server.url, clientId, clientSecret);
});

afterAll(() => server.close());

const count = async (sql: string, params: unknown[] = []) =>
  Number((await server.instance.db.query<{ n: number }>(`select count(*)::int as n from ${sql}`, params)).rows[0]!.n);

function authParams(extra: Record<string, string> = {}) {
  return new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: CALLBACK,
    state: 'st',
    ...extra,
  });
}

/** A completed login: the callback URL with the code, and the checks of its request. */
async function codeFor() {
  const request = await authorizationRequest(rp);
  return { callback: new URL(await signIn(new Agent(server.url), request.url, SITI.nik, SITI.password)), checks: request.checks };
}

/** Starts an authorization request in a fresh browser and returns it on the login page. */
async function atLoginPage() {
  const agent = new Agent(server.url);
  const challenge = await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier());
  const { res, url } = await agent.follow(`/auth?${authParams({ code_challenge: challenge, code_challenge_method: 'S256' })}`);
  const html = await res!.text();
  return { agent, url, html, csrf: csrfTokenOf(html) };
}

function expectNoStackTrace(body: string) {
  expect(body).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(body).not.toMatch(/node_modules|src\//);
}

describe('authorization endpoint', () => {
  test('an unregistered redirect URI gets an error page, never a redirect', async () => {
    const res = await fetch(`${server.url}/auth?${authParams({ redirect_uri: 'https://evil.example/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const body = await res.text();
    expect(body).toContain('<html lang="id">');
    expectNoStackTrace(body);
  });

  test('a redirect URI that only starts like a registered one is refused (exact matching)', async () => {
    const res = await fetch(`${server.url}/auth?${authParams({ redirect_uri: `${CALLBACK}/extra`, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  test('PKCE is required, and only S256', async () => {
    for (const extra of [{}, { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }] as Record<string, string>[]) {
      const res = await fetch(`${server.url}/auth?${authParams(extra)}`, { redirect: 'manual' });
      expect(res.status).toBe(303);
      const location = new URL(res.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(CALLBACK);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('code')).toBeNull();
    }
  });

  test('an unknown client and a request without parameters get 400 pages', async () => {
    for (const query of [authParams({ client_id: 'nobody' }).toString(), '']) {
      const res = await fetch(`${server.url}/auth?${query}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expectNoStackTrace(await res.text());
    }
  });
});

describe('token endpoint', () => {
  test('a wrong PKCE verifier is refused and leaves the code usable; a missing one too', async () => {
    const { callback, checks } = await codeFor();
    await expect(oidc.authorizationCodeGrant(rp, callback, { ...checks, pkceCodeVerifier: oidc.randomPKCECodeVerifier() }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
    const code = callback.searchParams.get('code')!;
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, checks);
    expect(tokens.access_token).toBeTruthy();
  });

  test('a code used twice is refused and revokes what the first use issued', async () => {
    const { callback, checks } = await codeFor();
    const first = await oidc.authorizationCodeGrant(rp, callback, checks);
    expect((await oidc.tokenIntrospection(rp, first.access_token)).active).toBe(true);
    await expect(oidc.authorizationCodeGrant(rp, callback, checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, first.access_token)).active).toBe(false);
  });

  test('a wrong client secret is invalid_client', async () => {
    const wrong = await relyingParty(server.url, clientId, 'not-the-secret');
    await expect(oidc.clientCredentialsGrant(wrong, {})).rejects.toMatchObject({ status: 401 });
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:wrong`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  test('malformed token requests get OAuth errors, never 500', async () => {
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const cases: Array<[string, RequestInit, number, string]> = [
      ['/token', { method: 'POST' }, 400, 'invalid_request'],
      ['/token', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password&username=a&password=b' }, 400, 'unsupported_grant_type'],
      ['/token', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code&code=nope&redirect_uri=x&code_verifier=' + 'a'.repeat(43) }, 400, 'invalid_grant'],
      ['/token', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: '{not json' }, 400, 'invalid_request'],
      ['/token/introspection', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: '' }, 400, 'invalid_request'],
      ['/token/revocation', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: '' }, 400, 'invalid_request'],
      ['/me', { headers: { authorization: 'Bearer not-a-token' } }, 401, 'invalid_token'],
      ['/me', {}, 401, 'invalid_token'],
    ];
    for (const [path, init, status, error] of cases) {
      const res = await fetch(server.url + path, init);
      expect({ path, status: res.status }).toEqual({ path, status });
      const body = await res.json();
      expect({ path, error: body.error }).toEqual({ path, error });
    }
  });
});

describe('clients', () => {
  test('suspending a client takes effect on the next request; reactivating restores it', async () => {
    const other = await createWebClient(server.instance, { name: 'Layanan Pajak', unit: 'bppkad' });
    const config = await relyingParty(server.url, other.clientId, other.clientSecret);
    const token = await oidc.clientCredentialsGrant(config, {});
    await server.instance.clients.setStatus(other.clientId, 'suspended', 'test');

    await expect(oidc.clientCredentialsGrant(config, {})).rejects.toMatchObject({ status: 401 });
    await expect(oidc.tokenIntrospection(config, token.access_token)).rejects.toMatchObject({ status: 401 });
    const auth = await fetch(`${server.url}/auth?${authParams({ client_id: other.clientId, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(auth.status).toBe(400);
    expect(auth.headers.get('location')).toBeNull();

    await server.instance.clients.setStatus(other.clientId, 'active', 'test');
    expect((await oidc.clientCredentialsGrant(config, {})).access_token).toBeTruthy();
    expect(await count("audit_events where type = 'client.status_changed' and client_id = $1", [other.clientId])).toBe(2);
  });

  test('a service client asks only for what it was given: no scope, not even nik, beyond its own', async () => {
    // Made as the operator CLI makes one by default: client_credentials, nothing but openid asked for.
    const service = await createWebClient(server.instance, {
      name: 'Layanan Antar Sistem', unit: 'bppkad', redirectUris: [], postLogoutRedirectUris: [], scope: 'openid', grantTypes: ['client_credentials'],
    });
    const config = await relyingParty(server.url, service.clientId, service.clientSecret);
    expect((await oidc.clientCredentialsGrant(config, {})).access_token).toBeTruthy();
    for (const scope of ['nik', 'profile', 'email address']) {
      await expect(oidc.clientCredentialsGrant(config, { scope })).rejects.toMatchObject({ error: 'invalid_scope' });
    }
  });

  test('a client cannot introspect or revoke another client\'s token', async () => {
    const other = await createWebClient(server.instance, { name: 'Layanan Izin', unit: 'dpmptsp' });
    const config = await relyingParty(server.url, other.clientId, other.clientSecret);
    const theirs = await oidc.clientCredentialsGrant(config, {});
    expect((await oidc.tokenIntrospection(rp, theirs.access_token)).active).toBe(false);
    await expect(oidc.tokenRevocation(rp, theirs.access_token)).rejects.toMatchObject({ error: 'invalid_request' });
    expect((await oidc.tokenIntrospection(config, theirs.access_token)).active).toBe(true);
  });
});

describe('login form', () => {
  test('a POST without the CSRF token, or with a forged one, or with another browser\'s, is refused and logs nobody in', async () => {
    const { url, agent } = await atLoginPage();
    const other = await atLoginPage();
    const before = await count("audit_events where type = 'login.succeeded'");
    for (const _csrf of [undefined, 'forged-token', other.csrf]) {
      const fields: Record<string, string> = { identifier: SITI.nik, password: SITI.password };
      if (_csrf) fields._csrf = _csrf;
      const res = await agent.post(`${url}/login`, fields);
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
      expectNoStackTrace(await res.text());
    }
    expect(await count("audit_events where type = 'login.succeeded'")).toBe(before);
    // Still on the login page.
    expect(await (await agent.request(url)).text()).toContain('name="password"');
  });

  test('a wrong password and an unknown account get the same answer, and no NIK is stored in clear', async () => {
    const answers: string[] = [];
    for (const [identifier, password] of [[SITI.nik, 'wrong-password-here'], ['3571010101900009', SITI.password], ['nobody@example.id', 'x'.repeat(12)]] as const) {
      const { url, agent, csrf } = await atLoginPage();
      const res = await agent.post(`${url}/login`, { _csrf: csrf, identifier, password });
      expect(res.status).toBe(400);
      const html = await res.text();
      answers.push(/<div class="error-summary"[\s\S]*?<\/div>/.exec(html)![0]);
    }
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]).toContain('NIK/email/nomor HP atau kata sandi salah');
    expect(await count("audit_events where type = 'login.failed'")).toBeGreaterThanOrEqual(3);
    expect(await count('audit_events where details::text like $1', [`%${SITI.nik}%`])).toBe(0);
    expect(await count('citizens where nik_enc like $1 or nik_hash like $1', [`%${SITI.nik}%`])).toBe(0);
  });

  test('email works as the login identifier, case-insensitively', async () => {
    const { url, agent, csrf } = await atLoginPage();
    const res = await agent.post(`${url}/login`, { _csrf: csrf, identifier: SITI.email.toUpperCase(), password: SITI.password });
    expect(res.status).toBe(303);
  });

  test('malformed form posts and unknown interactions get 4xx pages', async () => {
    const { url, agent, csrf } = await atLoginPage();
    const repeated = await agent.request(`${url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${csrf}&identifier=a&identifier=b&password=x`,
    });
    expect(repeated.status).toBe(400);
    const empty = await agent.post(`${url}/login`, { _csrf: csrf, identifier: '', password: '' });
    expect(empty.status).toBe(400);
    const emptyHtml = await empty.text();
    expect(emptyHtml).toContain('href="#identifier"');
    expect(emptyHtml).toContain('href="#password"');
    const huge = await agent.post(`${url}/login`, { _csrf: csrf, identifier: 'a', password: 'p'.repeat(100_000) });
    expect(huge.status).toBe(413);
    const consentFirst = await agent.post(`${url}/consent`, { _csrf: csrf });
    expect(consentFirst.status).toBe(400);

    for (const path of ['/interaction/not-a-real-one', '/interaction/not-a-real-one/login']) {
      const res = await new Agent(server.url).request(path, path.endsWith('login') ? { method: 'POST' } : {});
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectNoStackTrace(await res.text());
    }
    const missing = await fetch(`${server.url}/tidak-ada`);
    expect(missing.status).toBe(404);
    const missingPage = await missing.text();
    expect(missingPage).toContain('Halaman tidak ditemukan');
    // Not a dead end: the account and the home page.
    expect(missingPage).toContain('<a class="button" href="/akun" role="button" draggable="false">Buka Akun saya</a>');
    expect(missingPage).toContain('<a class="link" href="/">Ke beranda Kediri ID</a>');
    // The language link of a page at //evil.example/... stays on this site.
    const sneaky = await fetch(`${server.url}//evil.example/login`);
    expect(sneaky.status).toBe(404);
    const links = [...(await sneaky.text()).matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    expect(links.filter((href) => href.startsWith('//') || /^https?:/.test(href))).toEqual([]);
  });
});

describe('pages and keys', () => {
  test('pages carry a strict CSP and the other security headers', async () => {
    const { agent, url } = await atLoginPage();
    const res = await agent.request(url);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test('the JWKS publishes public keys only, RS256 and ES256', async () => {
    const { keys } = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: Array<Record<string, string>> };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of keys) for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key[part]).toBeUndefined();
    const stored = await server.instance.db.query<{ private_jwk_enc: string }>('select private_jwk_enc from signing_keys');
    for (const row of stored.rows) expect(row.private_jwk_enc).not.toContain('"d"');
  });

  test('RP-initiated logout with a malformed id_token_hint gets a 400 page', async () => {
    const res = await fetch(`${server.url}/session/end?id_token_hint=garbage`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expectNoStackTrace(await res.text());
  });
});
