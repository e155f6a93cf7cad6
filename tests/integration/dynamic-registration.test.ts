import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { AFTER_LOGOUT, CALLBACK, SITI, createCitizen, grantStaff } from '../support/fixtures.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
let adminTotp: string;
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

let server: TestServer;
let adminId: string;

const IP = '127.0.0.1';
const UNIT = 'dispendukcapil';
/** A web client as a unit's developer would register it (RFC 7591 client metadata). */
const WEB = {
  client_name: 'Layanan Izin Usaha',
  redirect_uris: [CALLBACK],
  post_logout_redirect_uris: [AFTER_LOGOUT],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'openid profile email',
  policy_uri: 'https://izin.kedirikota.go.id/privasi',
  contacts: ['pengembang@kedirikota.go.id'],
};
const SERVICE = {
  client_name: 'Sinkronisasi Data Izin',
  grant_types: ['client_credentials'],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'profile',
  policy_uri: 'https://izin.kedirikota.go.id/privasi',
  contacts: ['pengembang@kedirikota.go.id'],
};

beforeAll(async () => {
  server = await startTestServer();
  adminId = (await createCitizen(server.instance)).id;
  await createCitizen(server.instance, ADMIN);
  adminTotp = (await grantStaff(server.instance, ADMIN.email, 'admin')).totp;
});

afterAll(() => server.close());

async function issue(uses = 1, expiresInHours = 1): Promise<string> {
  return (await server.instance.dynamicRegistration.issueAccessToken({ unit: UNIT, uses, expiresInHours }, adminId, IP)).token;
}

async function call(method: string, path: string, token: string | undefined, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
}

const register = (token: string | undefined, body: unknown = WEB) => call('POST', '/reg', token, body);

async function count(table: 'clients' | 'client_requests'): Promise<number> {
  const { rows } = await server.testDb.db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return rows[0]!.n;
}

async function pendingRequest(clientId: string): Promise<string> {
  const { rows } = await server.testDb.db.query<{ id: string }>("select id from client_requests where client_id = $1 and status = 'pending'", [clientId]);
  return rows[0]!.id;
}

/** An authorization request for this client in a browser: the error page the provider shows, if any. */
async function authorizationError(clientId: string, redirectUri = CALLBACK): Promise<string | undefined> {
  const params = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
  const { res } = await new Agent(server.url).follow(`/auth?${params}`);
  return res!.status === 400 ? await res!.text() : undefined;
}

describe('RFC 7591 registration with initial access tokens', () => {
  test('discovery advertises the registration endpoint', async () => {
    const meta = (await fetch(`${server.url}/.well-known/openid-configuration`).then((r) => r.json())) as Record<string, unknown>;
    expect(meta.registration_endpoint).toBe(`${server.url}/reg`);
  });

  test('without a live initial access token: 401 invalid_token, and nothing is stored', async () => {
    const before = await count('clients');
    const expired = await issue();
    await server.testDb.db.query("update initial_access_tokens set expires_at = now() - interval '1 minute'");
    const revoked = await issue();
    const { rows } = await server.testDb.db.query<{ id: string }>('select id from initial_access_tokens where expires_at > now()');
    await server.instance.dynamicRegistration.revokeAccessToken(rows[0]!.id, adminId, IP);
    const usedUp = await issue(1);
    expect((await register(usedUp)).status).toBe(201);

    for (const token of [undefined, 'not-a-token', expired, revoked, usedUp]) {
      const res = await register(token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(res.body.error).toBe('invalid_token');
    }
    expect(await count('clients')).toBe(before + 1);
  });

  test('a registered client is pending: unusable until approved, then a working client', async () => {
    const token = await issue(2);
    // openid-client as the registrant: discovery, then the registration with the token.
    const registered = await oidc.dynamicClientRegistration(new URL(server.url), SERVICE, undefined, {
      initialAccessToken: token,
      execute: [oidc.allowInsecureRequests],
    });
    const service = registered.clientMetadata();
    expect(service.client_id).toMatch(new RegExp(`^${UNIT}-`));
    expect(service).toMatchObject({ client_secret_expires_at: 0, kediri_status: 'pending', grant_types: ['client_credentials'] });
    expect(service.registration_client_uri).toBe(`${server.url}/reg/${service.client_id}`);
    expect(typeof service.registration_access_token).toBe('string');
    expect(typeof service.client_id_issued_at).toBe('number');

    const rp = await relyingParty(server.url, service.client_id, service.client_secret as string);
    await expect(oidc.clientCredentialsGrant(rp)).rejects.toMatchObject({ status: 401, cause: [{ parameters: { error: 'invalid_client' } }] });
    await server.instance.clientRequests.approve(await pendingRequest(service.client_id), adminId, [], IP);
    expect((await oidc.clientCredentialsGrant(rp)).access_token).toBeTruthy();

    // A web client: the authorization request fails until approval, then the code flow works.
    const web = (await register(token)).body;
    expect(web).toMatchObject({ kediri_status: 'pending', redirect_uris: [CALLBACK], scope: 'openid profile email' });
    expect(await authorizationError(web.client_id)).toContain('invalid_client');
    await server.instance.clientRequests.approve(await pendingRequest(web.client_id), adminId, [], IP);
    expect(await authorizationError(web.client_id)).toBeUndefined();
    const tokens = await signInAndExchange(await relyingParty(server.url, web.client_id, web.client_secret), SITI.nik, SITI.password);
    expect(tokens.claims()!.sub).toBe(pairwiseSubject(server.instance.sealer, UNIT, adminId));
  });

  test('a single-use token registers one client, also under concurrent registrations', async () => {
    const once = await issue(1);
    expect((await register(once)).status).toBe(201);
    expect((await register(once)).status).toBe(401);

    const before = await count('clients');
    const raced = await issue(1);
    const statuses = (await Promise.all([register(raced), register(raced), register(raced)])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 401, 401]);
    expect(await count('clients')).toBe(before + 1);
  });

  test('metadata the portal would refuse: 400, nothing stored, and the token keeps its use', async () => {
    const token = await issue(1);
    const before = [await count('clients'), await count('client_requests')];
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...WEB, redirect_uris: ['http://izin.kedirikota.go.id/callback'] }, 'invalid_redirect_uri'],
      [{ ...WEB, redirect_uris: [`${CALLBACK}#fragment`] }, 'invalid_redirect_uri'],
      [{ ...WEB, redirect_uris: ['https://*.kedirikota.go.id/callback'] }, 'invalid_redirect_uri'],
      [{ ...WEB, scope: 'openid profile admin' }, 'invalid_client_metadata'],
      [{ ...WEB, scope: 'openid nik' }, 'invalid_client_metadata'],
      [{ ...WEB, grant_types: ['implicit'] }, 'invalid_client_metadata'],
      [{ ...WEB, client_name: 42 }, 'invalid_client_metadata'],
      [{ ...WEB, policy_uri: undefined }, 'invalid_client_metadata'],
      // Passes the portal's checks, refused by oidc-provider's own validation: a key without its key material.
      [{ ...WEB, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', kid: 'k1' }] } }, 'invalid_client_metadata'],
    ];
    for (const [body, error] of cases) {
      const res = await register(token, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe(error);
      expect(typeof res.body.error_description).toBe('string');
    }
    const notJson = await fetch(`${server.url}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"client_name":' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: 'invalid_client_metadata' });
    expect((await register(token, { ...WEB, client_name: 'x'.repeat(70_000) })).status).toBe(413);
    expect([await count('clients'), await count('client_requests')]).toEqual(before);

    // The nik scope with a reason in our extension member is a request for the administrator to judge.
    const reason = 'Mencocokkan pemohon izin usaha dengan data kependudukan.';
    const res = await register(token, { ...WEB, scope: 'openid nik', kediri_scope_reasons: { nik: reason } });
    expect(res.status).toBe(201);
    const request = await server.instance.clientRequests.get(await pendingRequest(res.body.client_id));
    expect(request).toMatchObject({ source: 'dynamic', status: 'pending', details: { scopes: ['nik'], scopeReasons: { nik: reason } } });
  });
});

describe('RFC 7592 client management', () => {
  let client: Record<string, any>;
  let other: Record<string, any>;

  beforeAll(async () => {
    const token = await issue(2);
    client = (await register(token)).body;
    other = (await register(token)).body;
    await server.instance.clientRequests.approve(await pendingRequest(client.client_id), adminId, [], IP);
  });

  const path = (c: Record<string, any>) => new URL(c.registration_client_uri).pathname;

  test('read with its registration access token, which is rotated: the old one is refused after one use, the new one works; 401 with another client\'s or none', async () => {
    const read = await call('GET', path(client), client.registration_access_token);
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toBe('no-store');
    expect(read.body).toMatchObject({ client_id: client.client_id, redirect_uris: [CALLBACK], kediri_status: 'active' });
    // The secret went out once, at registration; a read does not hand it out again.
    expect(read.body).not.toHaveProperty('client_secret');
    const next = read.body.registration_access_token as string;
    expect(typeof next).toBe('string');
    expect(next).not.toBe(client.registration_access_token);

    for (const token of [client.registration_access_token, other.registration_access_token, undefined]) {
      const res = await call('GET', path(client), token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
    const again = await call('GET', path(client), next);
    expect(again.status).toBe(200);
    // Two uses of one token at once: one is answered, with the next token; the other is refused.
    const racing = await Promise.all([call('GET', path(client), again.body.registration_access_token), call('GET', path(client), again.body.registration_access_token)]);
    expect(racing.map((r) => r.status).sort()).toEqual([200, 401]);
    client.registration_access_token = racing.find((r) => r.status === 200)!.body.registration_access_token;
    // A HEAD (which would rotate the token and drop the new one with the body) is refused, and
    // the token still works.
    expect((await call('HEAD', path(client), client.registration_access_token)).status).toBe(405);

    const { rows } = await server.testDb.db.query("select actor, ip from audit_events where type = 'client.registration_token_rotated' and client_id = $1", [client.client_id]);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toEqual({ actor: 'dynamic-registration', ip: expect.any(String) });
  });

  test('an update is a pending change: the live client keeps its approved redirect URIs until approval; each update rotates the token, a refused one does not', async () => {
    const moved = 'https://izin.kedirikota.go.id/callback';
    const update = { ...WEB, client_id: client.client_id, redirect_uris: [moved] };
    const used = client.registration_access_token;
    const res = await call('PUT', path(client), used, update);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ redirect_uris: [CALLBACK], kediri_status: 'active', kediri_request_pending: true });
    client.registration_access_token = res.body.registration_access_token;
    expect(typeof client.registration_access_token).toBe('string');
    expect((await call('PUT', path(client), used, update)).status).toBe(401);
    expect(await authorizationError(client.client_id)).toBeUndefined();
    expect(await authorizationError(client.client_id, moved)).toContain('redirect_uri');

    // One open request at a time; the server's own members and a foreign client_id are refused,
    // and a refused update leaves the token as it was.
    expect((await call('PUT', path(client), client.registration_access_token, update)).body.error).toBe('invalid_request');
    const requestId = await pendingRequest(client.client_id);
    await server.instance.clientRequests.approve(requestId, adminId, [], IP);
    expect(await authorizationError(client.client_id, moved)).toBeUndefined();
    expect(await authorizationError(client.client_id)).toContain('redirect_uri');
    for (const body of [{ ...update, client_id: other.client_id }, { ...update, registration_client_uri: client.registration_client_uri }]) {
      expect((await call('PUT', path(client), client.registration_access_token, body)).status).toBe(400);
    }
    expect((await call('GET', path(client), client.registration_access_token)).status).toBe(200);
  });

  test('delete: the client and its tokens stop working; a token replaced by a read no longer deletes', async () => {
    const token = await issue(1);
    const doomed = (await register(token)).body;
    await server.instance.clientRequests.approve(await pendingRequest(doomed.client_id), adminId, [], IP);
    const rp = await relyingParty(server.url, doomed.client_id, doomed.client_secret);
    const tokens = await signInAndExchange(rp, SITI.nik, SITI.password);
    const sub = pairwiseSubject(server.instance.sealer, UNIT, adminId);
    expect((await oidc.fetchUserInfo(rp, tokens.access_token, sub)).sub).toBe(sub);

    const current = (await call('GET', path(doomed), doomed.registration_access_token)).body.registration_access_token as string;
    for (const stale of [other.registration_access_token, doomed.registration_access_token]) {
      expect((await call('DELETE', path(doomed), stale)).status).toBe(401);
    }
    const res = await call('DELETE', path(doomed), current);
    expect(res.status).toBe(204);
    await expect(oidc.fetchUserInfo(rp, tokens.access_token, adminId)).rejects.toBeTruthy();
    const userinfo = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userinfo.status).toBe(401);
    expect(await authorizationError(doomed.client_id)).toContain('invalid_client');
    expect((await call('GET', path(doomed), current)).status).toBe(401);
    const { rows } = await server.testDb.db.query("select 1 from oidc_payloads where payload->>'clientId' = $1", [doomed.client_id]);
    expect(rows).toHaveLength(0);
  });
});

describe('admin console: registration tokens', () => {
  test('an admin issues a token, sees it once, and revokes it', async () => {
    const agent = new Agent(server.url);
    await signIn(agent, `${server.url}/admin/token-registrasi`, ADMIN.email, ADMIN.password, { totp: adminTotp });
    const page = await agent.request('/admin/token-registrasi');
    expect(page.status).toBe(200);
    const html = await page.text();

    const bad = await agent.post('/admin/token-registrasi', { _csrf: csrfTokenOf(html), unit: UNIT, uses: '0', hours: '24' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('uses-error');

    const issued = await agent.post('/admin/token-registrasi', { _csrf: csrfTokenOf(html), unit: UNIT, uses: '3', hours: '48' });
    expect(issued.status).toBe(200);
    expect(issued.headers.get('cache-control')).toBe('no-store');
    const token = /<code class="secret" id="token">([^<]+)<\/code>/.exec(await issued.text())![1]!;
    expect((await register(token)).status).toBe(201);

    const list = await (await agent.request('/admin/token-registrasi')).text();
    expect(list).not.toContain(token);
    const id = /\/admin\/token-registrasi\/([0-9a-f-]{36})\/cabut/.exec(list)![1]!;
    const tokens = await server.instance.dynamicRegistration.listAccessTokens();
    expect(tokens.find((t) => t.id === id)).toMatchObject({ unit: UNIT, usesLeft: 2, state: 'active' });

    const revoked = await agent.post(`/admin/token-registrasi/${id}/cabut`, { _csrf: csrfTokenOf(list) });
    expect(revoked.status).toBe(303);
    expect((await server.instance.dynamicRegistration.listAccessTokens()).find((t) => t.id === id)?.state).toBe('revoked');
    expect((await register(token)).status).toBe(401);

    const { rows } = await server.testDb.db.query<{ type: string }>(
      "select type from audit_events where type like 'initial_access_token.%' and actor = $1",
      [adminId],
    );
    expect(rows.map((r) => r.type)).toEqual(expect.arrayContaining(['initial_access_token.issued', 'initial_access_token.revoked']));
  });
});
