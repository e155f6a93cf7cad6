import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { RETIRE_AFTER_SECONDS } from '../../src/oidc/keys.js';
import { TTL } from '../../src/oidc/provider.js';
import { AFTER_LOGOUT, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { jwks, kidOf, sleepUntil, untilPublished } from '../support/keys.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Long enough that nothing in the test outlasts it on a busy machine: the test moves the promotion itself. */
const PROMOTION_SECONDS = 600;

test('a superseded key stays published longer than anything it signed is used', () => {
  expect(RETIRE_AFTER_SECONDS).toBeGreaterThan(Math.max(TTL.IdToken, TTL.AccessToken, TTL.Session));
});

describe('signing-key rotation in one process', () => {
  let server: TestServer;
  let client: { clientId: string; clientSecret: string };
  let rp: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer({ KEY_PROMOTION_SECONDS: String(PROMOTION_SECONDS) });
    await createCitizen(server.instance);
    client = await createWebClient(server.instance);
    rp = await relyingParty(server.url, client.clientId, client.clientSecret);
  });

  afterAll(() => server.close());

  /** An ID token as the relying party gets it: openid-client checks its signature with the JWKS it has cached. */
  const idToken = async (party = rp) => (await signInAndExchange(party, SITI.email, SITI.password)).id_token!;
  const verifies = async (jwt: string) =>
    jwtVerify(jwt, createLocalJWKSet(await jwks(server.url)), { issuer: server.url, audience: rp.clientMetadata().client_id }).then(
      () => true,
      () => false,
    );
  const logoutWithHint = async (jwt: string) =>
    (await fetch(oidc.buildEndSessionUrl(rp, { id_token_hint: jwt, post_logout_redirect_uri: AFTER_LOGOUT }))).status;
  const states = async () => Object.fromEntries((await server.instance.signingKeys.list()).map((key) => [key.kid, key.state]));

  test('ES256 ID tokens are signed by the scheduled ES256 key', async () => {
    const es256 = await createWebClient(server.instance);
    await server.instance.db.query(
      `update clients set metadata = metadata || '{"id_token_signed_response_alg": "ES256"}' where client_id = $1`,
      [es256.clientId],
    );
    const jwt = await idToken(await relyingParty(server.url, es256.clientId, es256.clientSecret));
    expect(decodeProtectedHeader(jwt).alg).toBe('ES256');
    const current = (await server.instance.signingKeys.list()).find((key) => key.alg === 'ES256' && key.state === 'current');
    expect(kidOf(jwt)).toBe(current!.kid);
  });

  test('published first, promoted after the delay, retired after the longest token lifetime', async () => {
    const keys = server.instance.signingKeys;
    const before = await idToken();
    const old = (await keys.list()).map((key) => key.kid);
    const oldRs256 = kidOf(before)!;
    expect(old).toContain(oldRs256);

    // Right after the rotation: old and new keys published, tokens still signed by the old key.
    const rotated = await keys.rotate('admin@example.id');
    expect(rotated.retiring.sort()).toEqual([...old].sort());
    expect(new Date(rotated.signingFrom).getTime() - Date.now()).toBeGreaterThan(0);
    expect(new Date(rotated.signingFrom).getTime() - Date.now()).toBeLessThanOrEqual(PROMOTION_SECONDS * 1000);
    expect(new Date(rotated.retireAt).getTime() - new Date(rotated.signingFrom).getTime()).toBe(RETIRE_AFTER_SECONDS * 1000);
    const res = await fetch(`${server.url}/jwks`);
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    const published = ((await res.json()) as JSONWebKeySet).keys;
    expect(published.map((key) => key.kid).sort()).toEqual([...old, ...rotated.published].sort());
    for (const key of published) for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(part);
    expect(await verifies(before)).toBe(true);
    // A relying party that fetches the JWKS during the overlap (here: its first login) knows the
    // new key before it signs: the reason for the promotion delay.
    const rpDuringOverlap = await relyingParty(server.url, client.clientId, client.clientSecret);
    expect(kidOf(await idToken(rpDuringOverlap))).toBe(oldRs256);
    expect(Object.values(await states()).sort()).toEqual(['current', 'current', 'next', 'next']);

    // A second rotation while this one is in progress is refused.
    await expect(keys.rotate('admin@example.id')).rejects.toMatchObject({ code: 'key_rotation_pending' });
    const audited = await server.instance.db.query<{ actor: string; details: { published: string[] } }>(
      "select actor, details from audit_events where type = 'keys.rotated'",
    );
    expect(audited.rows).toEqual([{ actor: 'admin@example.id', details: expect.objectContaining({ published: rotated.published }) }]);

    // After signing_from (moved to now, as if the delay had passed; a process reads the schedule
    // every few seconds): the new key signs; the old one still verifies, also as id_token_hint.
    await server.instance.db.query('update signing_keys set signing_from = now() where kid = any($1)', [rotated.published]);
    const signing = () => keys.published().find((key) => key.alg === 'RS256' && key.state === 'current')?.kid;
    for (const deadline = Date.now() + 15_000; signing() === oldRs256 && Date.now() < deadline; ) {
      await keys.fresh();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const after = await idToken(rpDuringOverlap);
    const newRs256 = kidOf(after)!;
    expect(rotated.published).toContain(newRs256);
    expect(await verifies(after)).toBe(true);
    expect(await verifies(before)).toBe(true);
    expect(await logoutWithHint(before)).toBe(200);
    expect((await states())[oldRs256]).toBe('previous');
    expect((await states())[newRs256]).toBe('current');

    // After retire_at (moved to now, as if the hours had passed): only the new keys are published,
    // within a few seconds, and the old key's private part is erased.
    await server.instance.db.query('update signing_keys set retire_at = now() where retire_at is not null');
    await untilPublished(server.url, rotated.published);
    expect(await verifies(before)).toBe(false);
    expect(await verifies(after)).toBe(true);
    expect(await logoutWithHint(before)).toBe(400);
    expect((await states())[oldRs256]).toBe('retired');
    const erased = await server.instance.db.query('select 1 from signing_keys where kid = any($1) and private_jwk_enc is not null', [old]);
    expect(erased.rowCount).toBe(0);

    // The rotation is complete: the next one may start.
    await expect(keys.rotate('admin@example.id')).resolves.toMatchObject({ retiring: expect.arrayContaining(rotated.published) });
  }, 120_000);
});

describe('a process between two reads of the schedule', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ KEY_PROMOTION_SECONDS: '10' });
  });
  afterAll(() => server.close());

  test('its keys change state on time, and its JWKS with them', async () => {
    const keys = server.instance.signingKeys;
    const rotated = await keys.rotate('admin@example.id');
    // From here on the process does not read the schedule again.
    server.instance.close();
    const states = (kids: string[]) => kids.map((kid) => keys.published().find((key) => key.kid === kid)?.state);
    const currentFirst = async () => (await jwks(server.url)).keys.slice(0, 2).map((key) => key.kid!).sort();
    expect(states(rotated.published)).toEqual(['next', 'next']);
    expect(await currentFirst()).toEqual([...rotated.retiring].sort());
    await sleepUntil(rotated.signingFrom);
    expect(states(rotated.published)).toEqual(['current', 'current']);
    expect(states(rotated.retiring)).toEqual(['previous', 'previous']);
    expect(await currentFirst()).toEqual([...rotated.published].sort());
  });
});
