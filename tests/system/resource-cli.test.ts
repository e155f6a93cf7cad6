import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { createClientByCli, kediriId, processEnvironment, startServe, type Served } from '../support/process.js';
import { relyingParty } from '../support/rp.js';

/**
 * The operator registers a unit's API with the real binary while the server runs (embedded: the
 * command goes to the server through its socket; PostgreSQL: the CLI writes and the server hears
 * of it): the next token request gets a JWT for it, and each later change (the lifetime, the
 * client list) applies without a restart.
 */
const API = 'https://api.samsat.example.go.id/pajak';

let setup: Awaited<ReturnType<typeof processEnvironment>>;
let server: Served;

beforeAll(async () => {
  setup = await processEnvironment();
  server = await startServe(setup.env);
});

afterAll(async () => {
  await server?.stop();
  await setup.cleanup();
});

/** The lifetime of the API's token the client gets, or the OAuth error; again for up to two seconds until it is `wanted`. */
async function outcome(rp: oidc.Configuration, wanted: number | string): Promise<number | string> {
  const deadline = Date.now() + 2000;
  for (;;) {
    let got: number | string;
    try {
      const { iat, exp } = decodeJwt((await oidc.clientCredentialsGrant(rp, { resource: API })).access_token);
      got = exp! - iat!;
    } catch (error) {
      got = String((error as { error?: string }).error);
    }
    if (got === wanted || Date.now() > deadline) return got;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('kediri-id resource, with the server running', () => {
  test('create, update, disallow: each applies to the next token without a restart; the JWT checks against /jwks', async () => {
    const { env } = setup;
    const { clientId, clientSecret } = await createClientByCli(env, ['--grant-type', 'authorization_code', '--grant-type', 'client_credentials']);
    const rp = await relyingParty(env.ISSUER!, clientId, clientSecret);
    expect(await outcome(rp, 'invalid_target')).toBe('invalid_target');

    const created = await kediriId(['resource', 'create', '--indicator', API, '--name', 'Pajak Kendaraan', '--scope', 'pajak:baca', '--client', clientId], env);
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await outcome(rp, 300)).toBe(300);
    const { access_token } = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'pajak:baca' });
    const jwks = createRemoteJWKSet(new URL(`${env.ISSUER}/jwks`));
    const { payload } = await jwtVerify(access_token, jwks, { issuer: env.ISSUER, audience: API, typ: 'at+jwt', algorithms: ['ES256'] });
    expect(payload).toMatchObject({ client_id: clientId, scope: 'pajak:baca' });

    expect((await kediriId(['resource', 'update', '--indicator', API, '--token-ttl', '90'], env)).code).toBe(0);
    expect(await outcome(rp, 90)).toBe(90);
    expect((await kediriId(['resource', 'disallow', '--indicator', API, '--client', clientId], env)).code).toBe(0);
    expect(await outcome(rp, 'invalid_target')).toBe('invalid_target');

    const refused = await kediriId(['resource', 'allow', '--indicator', API, '--client', 'samsat-bukan-klien'], env);
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 2, stdout: '' });
    expect(refused.stderr).toContain('--client: No client has these client IDs: samsat-bukan-klien');
    const listed = JSON.parse((await kediriId(['resource', 'list'], env)).stdout) as Array<Record<string, unknown>>;
    expect(listed).toMatchObject([{ indicator: API, name: 'Pajak Kendaraan', scopes: ['pajak:baca'], clientIds: [], accessTokenTtl: 90 }]);
  }, 180_000);
});
