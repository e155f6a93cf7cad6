import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { loadConfig } from '../../src/config.js';
import { RETIRE_AFTER_SECONDS } from '../../src/oidc/keys.js';
import { TTL } from '../../src/oidc/provider.js';
import { createServices } from '../../src/services.js';
import { AFTER_LOGOUT, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { freePort, kediriId, processEnvironment, startServe, type Served } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const PROMOTION_SECONDS = 2;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sleepUntil = (at: Date | string) => sleep(Math.max(0, new Date(at).getTime() - Date.now() + 100));
const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid;

async function jwks(issuer: string): Promise<JSONWebKeySet> {
  return (await (await fetch(`${issuer}/jwks`)).json()) as JSONWebKeySet;
}

/** Polls the JWKS until it lists exactly these kids (a process reads the schedule every few seconds). */
async function untilPublished(issuer: string, kids: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  const want = [...kids].sort();
  for (;;) {
    const published = (await jwks(issuer)).keys.map((key) => key.kid!).sort();
    if (JSON.stringify(published) === JSON.stringify(want)) return;
    if (Date.now() > deadline) expect(published).toEqual(want);
    await sleep(250);
  }
}

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

    // After signing_from: the new key signs; the old one still verifies, also as id_token_hint.
    await sleepUntil(rotated.signingFrom);
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

/** Two `kediri-id serve` processes on one PostgreSQL database, rotated by the CLI. */
const describeOnPostgres = process.env.DATABASE_URL ? describe : describe.skip;

describeOnPostgres('signing-key rotation across processes', () => {
  const promotionSeconds = 10;
  let setup: Awaited<ReturnType<typeof processEnvironment>>;
  const servers: Served[] = [];
  let ports: string[];

  beforeAll(async () => {
    setup = await processEnvironment({ KEY_PROMOTION_SECONDS: String(promotionSeconds) });
    // Both claim the same issuer; the test talks to each directly.
    ports = [setup.env.PORT!, String(await freePort())];
    servers.push(...(await Promise.all(ports.map((port) => startServe({ ...setup.env, PORT: port })))));
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await setup.cleanup();
  });

  test('a rotation made by the CLI reaches both processes, which switch keys at the same time', async () => {
    const { env } = setup;
    const config = loadConfig({ DATABASE_URL: env.DATABASE_URL!, DATA_DIR: env.DATA_DIR!, ENCRYPTION_KEY: env.ENCRYPTION_KEY! });
    const { clientId, clientSecret } = await setup.withDatabase(async (db) => {
      const services = await createServices(config, db);
      await createCitizen(services);
      return createWebClient(services);
    });
    const rp = await relyingParty(setup.issuer, clientId, clientSecret);
    let refreshToken = (await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' })).refresh_token!;
    /** A new ID token from one process: a refresh at its token endpoint. */
    async function idTokenFrom(port: string): Promise<string> {
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
      });
      const body = (await res.json()) as { id_token: string; refresh_token: string };
      refreshToken = body.refresh_token;
      return body.id_token;
    }
    const oldRs256 = kidOf(await idTokenFrom(ports[0]!));

    const run = await kediriId(['keys', 'rotate'], env);
    expect(run.stderr).toBe('');
    const rotated = JSON.parse(run.stdout) as { published: string[]; retiring: string[]; signingFrom: string };
    for (const port of ports) await untilPublished(`http://127.0.0.1:${port}`, [...rotated.retiring, ...rotated.published]);
    for (const port of ports) expect(kidOf(await idTokenFrom(port))).toBe(oldRs256);

    await sleepUntil(rotated.signingFrom);
    for (const port of ports) {
      const jwt = await idTokenFrom(port);
      expect(rotated.published).toContain(kidOf(jwt));
      for (const other of ports) {
        const keySet = createLocalJWKSet(await jwks(`http://127.0.0.1:${other}`));
        await expect(jwtVerify(jwt, keySet, { issuer: setup.issuer, audience: clientId })).resolves.toBeTruthy();
      }
    }
  }, 120_000);
});
