import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { Agent, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { resolveDpopNonceSecret } from '../../src/secrets.js';

/**
 * The FAPI 2.0 security profile for a client an administrator marks high-assurance: pushed
 * authorization requests, private_key_jwt and DPoP-bound tokens, with openid-client as the RP.
 */
let server: TestServer;
let rp: oidc.Configuration;
let clientKey: oidc.PrivateKey;

beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);

  // A private_key_jwt client whose public key is in its metadata (a jwks_uri on loopback would
  // be refused by the provider's SSRF protection), marked high-assurance as the admin page does.
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const { clientId } = await createWebClient(server.instance, {
    unit: 'bank-jatim',
    name: 'Jatim Mobile',
    authMethod: 'private_key_jwt',
    jwksUri: 'http://127.0.0.1:9/jwks',
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  await server.instance.db.query(
    `update clients set high_assurance = true,
       metadata = (metadata - 'jwks_uri') || jsonb_build_object('jwks', jsonb_build_object('keys', jsonb_build_array($2::jsonb)))
     where client_id = $1`,
    [clientId, { ...jwk, kid, alg: 'ES256', use: 'sig' }],
  );
  clientKey = { key: privateKey, kid };
  rp = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.PrivateKeyJwt(clientKey), {
    execute: [oidc.allowInsecureRequests],
  });
  oidc.enableNonRepudiationChecks(rp);
});

afterAll(() => server.close());

const userinfoEndpoint = () => rp.serverMetadata().userinfo_endpoint!;

/** A pushed authorization request (bound to the DPoP key when one is given), then the citizen's login. */
async function authorizeWithPar(DPoP?: oidc.DPoPHandle) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = await oidc.buildAuthorizationUrlWithPAR(
    rp,
    {
      redirect_uri: CALLBACK,
      scope: 'openid profile offline_access',
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    },
    { DPoP },
  );
  const callback = await signIn(new Agent(server.url), url.toString(), SITI.nik, SITI.password);
  return { callback: new URL(callback), checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
}

/** A DPoP proof made by hand, as a client that ignores server nonces would make it. */
async function proofWithoutNonce(keyPair: CryptoKeyPair, htm: string, htu: string, accessToken: string) {
  return new SignJWT({ htm, htu, jti: randomUUID(), ath: createHash('sha256').update(accessToken).digest('base64url') })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(keyPair.publicKey) })
    .setIssuedAt()
    .sign(keyPair.privateKey);
}

describe('a high-assurance client', () => {
  test('discovery offers PAR and DPoP', () => {
    const meta = rp.serverMetadata();
    expect(meta.pushed_authorization_request_endpoint).toBe(`${server.url}/request`);
    expect(meta.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
  });

  test('a plain authorization request, without PAR, is refused', async () => {
    const request = await authorizationRequest(rp, { scope: 'openid' });
    const { url } = await new Agent(server.url).follow(request.url);
    // The request names a registered redirect URI, so the error goes back to the client.
    expect(url.startsWith(`${CALLBACK}?`)).toBe(true);
    expect(Object.fromEntries(new URL(url).searchParams)).toMatchObject({
      error: 'invalid_request',
      error_description: 'Pushed Authorization Request must be used',
    });
  });

  test('a code exchange without a DPoP proof is refused', async () => {
    const { callback, checks } = await authorizeWithPar();
    await expect(oidc.authorizationCodeGrant(rp, callback, checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The proof was all it lacked: the same code with one is exchanged.
    const DPoP = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    const tokens = await oidc.authorizationCodeGrant(rp, callback, checks, undefined, { DPoP });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
  });

  test('with PAR and DPoP it gets DPoP-bound tokens, useless without the proof', async () => {
    const keyPair = await oidc.randomDPoPKeyPair();
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    const DPoP = oidc.getDPoPHandle(rp, keyPair);

    const { callback, checks } = await authorizeWithPar(DPoP);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, checks, undefined, { DPoP });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const { sub } = tokens.claims()!;
    // FAPI 2.0 signs with PS256, ES256 or EdDSA; this client's ID tokens are ES256 (verified above).
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');

    const introspected = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });

    // Userinfo with the proof answers; the same token as a bearer token does not.
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, sub, { DPoP });
    expect(userinfo).toMatchObject({ sub, name: SITI.name });
    const bearer = await fetch(userinfoEndpoint(), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(bearer.status).toBe(401);
    expect(bearer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
    expect(await bearer.json()).toMatchObject({ error: 'invalid_token' });
    // A proof without a server-provided nonce is refused, with a nonce to use (openid-client
    // retries with it by itself, as above).
    const stale = await fetch(userinfoEndpoint(), {
      headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await proofWithoutNonce(keyPair, 'GET', userinfoEndpoint(), tokens.access_token) },
    });
    expect(stale.status).toBe(401);
    expect(stale.headers.get('www-authenticate')).toMatch(/error="use_dpop_nonce"/);
    expect(stale.headers.get('dpop-nonce')).toBeTruthy();
    // A proof from another key does not do either.
    const otherKey = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    await expect(oidc.fetchUserInfo(rp, tokens.access_token, sub, { DPoP: otherKey })).rejects.toBeDefined();

    // Refreshing needs the proof too, and gives DPoP-bound tokens again.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, undefined, { DPoP });
    expect(refreshed.token_type.toLowerCase()).toBe('dpop');
    expect(await oidc.tokenIntrospection(rp, refreshed.access_token)).toMatchObject({ active: true, cnf: { jkt } });
  });

  test('the code is bound to the DPoP key the pushed request was made with', async () => {
    const { callback, checks } = await authorizeWithPar(oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair()));
    const otherKey = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    await expect(oidc.authorizationCodeGrant(rp, callback, checks, undefined, { DPoP: otherKey })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  test('its client assertions name exactly the issuer as audience (the FAPI 2.0 profile applies)', async () => {
    const toTokenEndpoint = oidc.PrivateKeyJwt(clientKey, {
      [oidc.modifyAssertion]: (_header, payload) => {
        payload.aud = rp.serverMetadata().token_endpoint;
      },
    });
    const misaddressed = new oidc.Configuration(rp.serverMetadata(), rp.clientMetadata().client_id, undefined, toTokenEndpoint);
    oidc.allowInsecureRequests(misaddressed);
    const params = { redirect_uri: CALLBACK, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' };
    await expect(oidc.buildAuthorizationUrlWithPAR(misaddressed, params)).rejects.toMatchObject({ status: 401 });
    await expect(oidc.buildAuthorizationUrlWithPAR(rp, params)).resolves.toBeInstanceOf(URL);
  });

  test('a high-assurance client that is not private_key_jwt is not served at all', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    await server.instance.db.query('update clients set high_assurance = true where client_id = $1', [clientId]);
    const misconfigured = await relyingParty(server.url, clientId, clientSecret);
    await expect(oidc.clientCredentialsGrant(misconfigured)).rejects.toMatchObject({
      status: 401,
      cause: [expect.objectContaining({ parameters: expect.objectContaining({ error: 'invalid_client' }) })],
    });
  });
});

describe('ordinary clients', () => {
  test('keep working without PAR or DPoP, with bearer tokens', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const ordinary = await relyingParty(server.url, clientId, clientSecret);
    const tokens = await signInAndExchange(ordinary, SITI.nik, SITI.password, { scope: 'openid profile' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');
    const { sub } = tokens.claims()!;
    expect(await oidc.fetchUserInfo(ordinary, tokens.access_token, sub)).toMatchObject({ sub });
  });
});

describe('the DPoP nonce secret', () => {
  test('is one 32-byte secret in the database, the same for every process that starts', async () => {
    const { db, sealer } = server.instance;
    const [a, b] = await Promise.all([resolveDpopNonceSecret(db, sealer), resolveDpopNonceSecret(db, sealer)]);
    expect(a.length).toBe(32);
    expect(b.equals(a)).toBe(true);
    const { rows } = await db.query<{ n: number }>("select count(*)::int as n from instance_secrets where name = 'dpop_nonce_secret'");
    expect(rows[0]!.n).toBe(1);
  });
});
