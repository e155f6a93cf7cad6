import { afterAll, beforeAll, expect, test, describe } from '@jest/globals';
import * as oidc from 'openid-client';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { jwks, kidOf, sleepUntil, untilPublished } from '../support/keys.js';
import { freePort, kediriId, processEnvironment, startServe, type Served } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';

/** Two `kediri-id serve` processes on one PostgreSQL database, rotated by the CLI. */
/** New ID tokens from one process or the other: one chain of refresh tokens, refreshed at the token endpoint of the process asked. */
function refreshChain(clientId: string, clientSecret: string, first: string) {
  let refreshToken = first;
  return async (port: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    const body = (await res.json()) as { id_token: string; refresh_token: string };
    refreshToken = body.refresh_token;
    return body.id_token;
  };
}

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
    const idTokenFrom = refreshChain(clientId, clientSecret, (await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' })).refresh_token!);
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

  test('keys revoke --end-sessions by the CLI: both processes stop publishing and signing the key at once; its sessions end', async () => {
    const { env } = setup;
    const config = loadConfig({ DATABASE_URL: env.DATABASE_URL!, DATA_DIR: env.DATA_DIR!, ENCRYPTION_KEY: env.ENCRYPTION_KEY! });
    const { clientId, clientSecret } = await setup.withDatabase((db) => createServices(config, db).then((services) => createWebClient(services)));
    const rp = await relyingParty(setup.issuer, clientId, clientSecret);
    const before = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    const compromised = kidOf(before.id_token!)!;

    const run = await kediriId(['keys', 'revoke', compromised, '--end-sessions'], env);
    const returned = performance.now();
    expect(run.stderr).toBe('');
    const revoked = JSON.parse(run.stdout) as { replacedBy: string; sessionsEnded: number };
    expect(revoked.sessionsEnded).toBeGreaterThanOrEqual(1);
    for (const port of ports) {
      while ((await jwks(`http://127.0.0.1:${port}`)).keys.some((key) => key.kid === compromised) && performance.now() - returned < 5000) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const heardAfter = performance.now() - returned;
      console.info(`process on port ${port} dropped the revoked key from its JWKS ${heardAfter.toFixed(0)} ms after the CLI returned`);
      expect(heardAfter).toBeLessThan(1000); // the schedule's timer alone would take up to 5 s
    }
    const keySets = await Promise.all(ports.map(async (port) => createLocalJWKSet(await jwks(`http://127.0.0.1:${port}`))));
    for (const keySet of keySets) await expect(jwtVerify(before.id_token!, keySet, { issuer: setup.issuer, audience: clientId })).rejects.toThrow();
    await expect(oidc.refreshTokenGrant(rp, before.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Each process signs with the replacement at once (a refresh at its own token endpoint).
    const after = await signInAndExchange(await relyingParty(setup.issuer, clientId, clientSecret), SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    const idTokenFrom = refreshChain(clientId, clientSecret, after.refresh_token!);
    for (const port of ports) {
      const idToken = await idTokenFrom(port);
      expect(kidOf(idToken)).toBe(revoked.replacedBy);
      for (const keySet of keySets) await expect(jwtVerify(idToken, keySet, { issuer: setup.issuer, audience: clientId })).resolves.toBeTruthy();
    }
  }, 120_000);
});
