/**
 * Access tokens for a unit's API (RFC 8707 resource indicators) as signed JWTs (RFC 9068), with
 * openid-client as the relying party and jose as the API: checked against /jwks without calling
 * Kediri ID, stored nowhere, issued with no database query at all (client credentials); refused
 * for an API nobody registered and for a client not on the API's list; only the scopes the API
 * accepts. In the authorization code flow the code (or a refresh token) is exchanged with
 * `resource` for the API's JWT, and without it for the opaque token userinfo takes, which refuses
 * the JWT. Changes made by another process (the operator CLI) apply without a restart.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { runOperatorCommand } from '../../src/operator.js';
import { createServices, type Services } from '../../src/services.js';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { createCitizen, createWebClient, SITI } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementsDuring } from '../support/statements.js';

const API = 'https://api.bppkad.example.go.id/retribusi';
const OTHER_API = 'https://api.dpupr.example.go.id/perizinan';

/** The OAuth error of a refused token request. */
async function refusal(request: Promise<unknown>): Promise<string> {
  try {
    await request;
    return 'issued';
  } catch (error) {
    const refused = error as { error?: string; cause?: Array<{ parameters?: { error?: string } }> };
    return String(refused.error ?? refused.cause?.[0]?.parameters?.error);
  }
}

/** A value that becomes what `wanted` accepts within two seconds (a change heard from another process). */
async function eventually<T>(read: () => Promise<T>, wanted: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 2000;
  let value = await read();
  while (!wanted(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    value = await read();
  }
  return value;
}

describe('access tokens for a resource server (RFC 8707) as JWTs (RFC 9068)', () => {
  let server: TestServer;
  let rp: oidc.Configuration;
  let clientId: string;
  let outsider: oidc.Configuration;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  /** The operator CLI of another process: its own services over the same database. */
  let cli: Services;
  const operator = async (...argv: string[]) => runOperatorCommand(cli, argv, '');
  const verify = (token: string, audience = API) => jwtVerify(token, jwks, { issuer: server.url, audience, typ: 'at+jwt', algorithms: ['ES256'] });

  beforeAll(async () => {
    server = await startTestServer();
    await createCitizen(server.instance);
    let clientSecret: string;
    ({ clientId, clientSecret } = await createWebClient(server.instance, { unit: 'bppkad' }));
    rp = await relyingParty(server.url, clientId, clientSecret);
    const other = await createWebClient(server.instance);
    outsider = await relyingParty(server.url, other.clientId, other.clientSecret);
    jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
    cli = await createServices(server.instance.config, server.testDb.db);
    const created = await operator('resource', 'create', '--indicator', API, '--name', 'Retribusi Daerah', '--scope', 'retribusi:baca retribusi:tulis', '--client', clientId);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(created.stdout)).toMatchObject({ indicator: API, scopes: ['retribusi:baca', 'retribusi:tulis'], clientIds: [clientId], accessTokenTtl: 300 });
    await operator('resource', 'create', '--indicator', OTHER_API, '--name', 'Perizinan', '--scope', 'izin:baca', '--client', other.clientId);
  });
  afterAll(() => server?.close());

  test('client credentials with resource: a JWT the API checks against /jwks (typ at+jwt, ES256, aud the API, 5 minutes), stored nowhere', async () => {
    const rows = async () => Number((await server.testDb.db.query<{ n: string }>('select count(*) as n from oidc_payloads')).rows[0]!.n);
    const before = await rows();
    const tokens = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'retribusi:baca' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'retribusi:baca' });
    const { payload, protectedHeader } = await verify(tokens.access_token);
    expect(protectedHeader).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    // The kid is our ES256 key's, as /jwks publishes it.
    const published = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: Array<{ kid: string; alg: string }> };
    expect(published.keys.find((key) => key.kid === protectedHeader.kid)?.alg).toBe('ES256');
    expect(payload).toEqual({
      iss: server.url, aud: API, sub: clientId, client_id: clientId, scope: 'retribusi:baca',
      iat: expect.any(Number), exp: expect.any(Number), jti: expect.any(String),
    });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(await rows()).toBe(before);
    expect((await server.testDb.db.query('select 1 from oidc_payloads where id = $1', [payload.jti])).rowCount).toBe(0);
    // Another API's audience, or another issuer, is not this token.
    await expect(verify(tokens.access_token, OTHER_API)).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
  });

  test('no database query per token: the client and the registry are in memory, and a JWT writes no row', async () => {
    await oidc.clientCredentialsGrant(rp, { resource: API });
    const statements = await statementsDuring(server.instance.db, async () => {
      for (let i = 0; i < 20; i++) await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'retribusi:baca' });
    });
    // The only reads are of the signing-key schedule, every few seconds whatever the load (keys.ts fresh()).
    expect(statements.filter((sql) => !sql.includes('signing_keys'))).toEqual([]);
    expect(statements.length).toBeLessThanOrEqual(2);
    // The opaque token (no resource) is stored, as before.
    const opaque = await statementsDuring(server.instance.db, async () => void (await oidc.clientCredentialsGrant(rp)));
    expect(opaque.filter((sql) => sql.includes('insert into oidc_payloads'))).toHaveLength(1);
  });

  test('an API nobody registered, and one the client is not allowed, are both invalid_target; only the scopes the API accepts are granted', async () => {
    expect(await refusal(oidc.clientCredentialsGrant(rp, { resource: 'https://api.unknown.example.go.id/' }))).toBe('invalid_target');
    expect(await refusal(oidc.clientCredentialsGrant(rp, { resource: OTHER_API }))).toBe('invalid_target');
    expect(await refusal(oidc.clientCredentialsGrant(outsider, { resource: API }))).toBe('invalid_target');
    expect(await refusal(oidc.clientCredentialsGrant(rp, { resource: 'not a uri' }))).toBe('invalid_target');
    expect(await refusal(oidc.clientCredentialsGrant(rp, { resource: `${API}#fragment` }))).toBe('invalid_target');
    // One resource per token.
    const two = new URLSearchParams([['resource', API], ['resource', OTHER_API]]);
    expect(await refusal(oidc.clientCredentialsGrant(rp, two))).toBe('invalid_target');

    const tokens = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'retribusi:baca retribusi:hapus-semua izin:baca openid' });
    expect(tokens.scope).toBe('retribusi:baca');
    expect(decodeJwt(tokens.access_token).scope).toBe('retribusi:baca');
    // Without a scope, a token for the API that carries none.
    expect(decodeJwt((await oidc.clientCredentialsGrant(rp, { resource: API })).access_token)).not.toHaveProperty('scope');
  });

  test('without resource nothing changes: an opaque token, which introspection knows; a JWT is neither introspected nor revoked (unsupported_token_type)', async () => {
    const opaque = await oidc.clientCredentialsGrant(rp);
    expect(opaque.access_token).not.toContain('.');
    expect(await oidc.tokenIntrospection(rp, opaque.access_token)).toMatchObject({ active: true, client_id: clientId });
    const jwt = (await oidc.clientCredentialsGrant(rp, { resource: API })).access_token;
    // RFC 7662 §2.3, RFC 7009 §2.2.1: neither applies to a JWT, which stays valid until it expires.
    expect(await refusal(oidc.tokenIntrospection(rp, jwt))).toBe('unsupported_token_type');
    expect(await refusal(oidc.tokenRevocation(rp, jwt))).toBe('unsupported_token_type');
    await expect(verify(jwt)).resolves.toBeTruthy();
  });

  test('authorization code flow: the citizen consents to the API by name; the code exchanged with resource gives the API its JWT (the pairwise sub, acr), refresh gives the opaque token userinfo takes', async () => {
    const request = await authorizationRequest(rp, { scope: 'openid profile offline_access retribusi:baca', resource: API, prompt: 'consent' });
    const browser = new Agent(server.url);
    let { res, url } = await browser.follow(request.url);
    let html = await res!.text();
    let posted = await browser.post(`${url.replace(/\/$/, '')}/login`, { _csrf: csrfTokenOf(html), identifier: SITI.email, password: SITI.password });
    ({ res, url } = await browser.follow(posted.headers.get('location')!));
    html = await res!.text();
    expect(html).toContain('juga akan dapat memakai layanan berikut atas nama Anda');
    expect(html).toContain('<strong>Retribusi Daerah</strong>');
    expect(html).toContain('Izin: retribusi:baca');
    posted = await browser.post(`${url.replace(/\/$/, '')}/consent`, { _csrf: csrfTokenOf(html) });
    const { url: callback } = await browser.follow(posted.headers.get('location')!);

    const forApi = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks, { resource: API });
    const sub = forApi.claims()!.sub;
    const { payload } = await verify(forApi.access_token);
    expect(payload).toMatchObject({ aud: API, sub, client_id: clientId, scope: 'retribusi:baca', acr: 'urn:kediri:acr:basic', auth_time: expect.any(Number) });
    // The citizen's identity stays out of the token: no profile claim, no NIK, no email.
    expect(Object.keys(payload).sort()).toEqual(['acr', 'aud', 'auth_time', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub']);
    expect(JSON.stringify(payload)).not.toContain(SITI.nik);
    // The sub is the pairwise one this client sees, not the account id.
    const account = (await server.instance.citizens.findByEmail(SITI.email))!;
    expect(sub).not.toBe(account.id);
    // The JWT is for the API: userinfo refuses it, so the ID token carries the profile's claims itself.
    expect(await refusal(oidc.fetchUserInfo(rp, forApi.access_token, sub))).toBe('invalid_token');
    expect(forApi.claims()).toMatchObject({ sub, name: SITI.name });

    // The refresh token gives the opaque token userinfo takes, or, with resource, the API's JWT again.
    const forUserinfo = await oidc.refreshTokenGrant(rp, forApi.refresh_token!);
    expect(forUserinfo.access_token).not.toContain('.');
    expect(await oidc.fetchUserInfo(rp, forUserinfo.access_token, sub)).toMatchObject({ sub, name: SITI.name });
    const again = await oidc.refreshTokenGrant(rp, forUserinfo.refresh_token!, { resource: API });
    expect((await verify(again.access_token)).payload).toMatchObject({ sub, scope: 'retribusi:baca' });
    // An API the authorization did not name is not the refresh token's to ask for.
    expect(await refusal(oidc.refreshTokenGrant(rp, again.refresh_token!, { resource: OTHER_API }))).toBe('invalid_target');
    // Each of the three token responses released the profile (in the ID token, or through userinfo):
    // recorded whether the access token was a JWT stored nowhere or an opaque one; the refusal released nothing.
    const released = await server.instance.db.query<{ claims: string[]; count: number }>(
      'select claims, count from data_releases where citizen_id = $1 and client_id = $2', [account.id, clientId],
    );
    expect(released.rows).toEqual([{ claims: ['birthdate', 'gender', 'name', 'sub', 'updated_at'], count: 3 }]);
  });

  test('the code exchanged without resource gives the opaque token for userinfo, as before', async () => {
    const request = await authorizationRequest(rp, { scope: 'openid profile retribusi:baca', resource: API });
    const browser = new Agent(server.url);
    let { res, url } = await browser.follow(request.url);
    const posted = await browser.post(`${url.replace(/\/$/, '')}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: SITI.email, password: SITI.password });
    // Consented before: straight back to the service.
    ({ url } = await browser.follow(posted.headers.get('location')!));
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(url), request.checks);
    expect(tokens.access_token).not.toContain('.');
    expect(await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).toMatchObject({ name: SITI.name });
  });

  test('an API the client may not use is refused at the authorization endpoint (invalid_target at the redirect URI)', async () => {
    const request = await authorizationRequest(rp, { resource: OTHER_API });
    const res = await new Agent(server.url).request(request.url);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_target');
  });

  test('changes by the operator CLI of another process apply without a restart: lifetime, the client list, removal', async () => {
    const lifetime = async () => {
      const { iat, exp } = decodeJwt((await oidc.clientCredentialsGrant(rp, { resource: API })).access_token);
      return exp! - iat!;
    };
    expect(await lifetime()).toBe(300);
    expect((await operator('resource', 'update', '--indicator', API, '--token-ttl', '120')).code).toBe(0);
    expect(await eventually(lifetime, (seconds) => seconds === 120)).toBe(120);

    expect((await operator('resource', 'allow', '--indicator', OTHER_API, '--client', clientId)).code).toBe(0);
    const allowed = () => refusal(oidc.clientCredentialsGrant(rp, { resource: OTHER_API }));
    expect(await eventually(allowed, (outcome) => outcome === 'issued')).toBe('issued');
    expect((await operator('resource', 'disallow', '--indicator', OTHER_API, '--client', clientId)).code).toBe(0);
    expect(await eventually(allowed, (outcome) => outcome === 'invalid_target')).toBe('invalid_target');

    const listed = JSON.parse((await operator('resource', 'list')).stdout) as Array<{ indicator: string; accessTokenTtl: number }>;
    expect(listed.map((s) => [s.indicator, s.accessTokenTtl])).toEqual([[OTHER_API, 300], [API, 120]]);
    expect((await operator('resource', 'delete', '--indicator', OTHER_API)).code).toBe(0);
    expect(JSON.parse((await operator('resource', 'list')).stdout)).toHaveLength(1);
  });

  test('bad input to the CLI: exit status 2 with every problem in the operator\'s words, and nothing changed', async () => {
    const before = (await operator('resource', 'list')).stdout;
    const cases: Array<[string[], string[]]> = [
      [['create', '--indicator', 'http://api.example.go.id/x', '--name', 'A'], ['--indicator: Write the API\'s address as a full https URI', '--name: The name must be 2 to 100 characters.']],
      [['create', '--indicator', 'https://api.example.go.id/x?y=1', '--name', 'Uji'], ['--indicator: Write the API']],
      [['create', '--indicator', API, '--name', 'Lagi'], ['--indicator: That address is already registered for another API.']],
      [['create', '--indicator', 'https://api.example.go.id/y', '--name', 'Uji', '--scope', 'profile baca'], ['--scope: Scopes are lower-case letters']],
      [['create', '--indicator', 'https://api.example.go.id/y', '--name', 'Uji', '--client', 'bukan-klien'], ['--client: No client has these client IDs: bukan-klien']],
      [['create', '--indicator', 'https://api.example.go.id/y', '--name', 'Uji', '--token-ttl', '3600'], ['--token-ttl: The token lifetime must be a whole number from 60 to 900 seconds.']],
      [['create', '--indicator', 'https://api.example.go.id/y', '--name', 'Uji', '--token-ttl', 'lima'], ['--token-ttl: The token lifetime']],
      [['create', '--indicator', 'https://api.example.go.id/y'], ['--name is required']],
      [['update', '--indicator', 'https://api.example.go.id/none', '--name', 'X'], ['--indicator: no resource server https://api.example.go.id/none']],
      [['update', '--indicator', API, '--token-ttl', '59'], ['--token-ttl: The token lifetime']],
      [['allow', '--indicator', API], ['--client is required']],
      [['allow', '--indicator', API, '--client', 'bukan-klien'], ['--client: No client has these client IDs: bukan-klien']],
      [['rename', '--indicator', API], ['unknown command: resource rename']],
      [['create', '--indicator', API, '--unknown-flag'], ["Unknown option '--unknown-flag'"]],
    ];
    for (const [argv, messages] of cases) {
      const result = await operator('resource', ...argv);
      expect({ argv, code: result.code, stdout: result.stdout }).toEqual({ argv, code: 2, stdout: '' });
      for (const message of messages) expect({ argv, stderr: result.stderr }).toEqual({ argv, stderr: expect.stringContaining(message) });
    }
    expect((await operator('resource', 'list')).stdout).toBe(before);
  });
});
