/**
 * An emergency key change (issue 19): an administrator (a recent login with the second factor)
 * revokes a signing key. It leaves the JWKS and stops signing at once, in this process and in a
 * second one on the same database; a key of its algorithm signs in its place at once; the
 * sessions and refresh tokens it may have signed for end when asked (with back-channel logouts
 * queued), and only then; every unit developer is emailed; it is audited. And what is refused.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createInstance, type Instance } from '../../src/instance.js';
import { createLogger } from '../../src/log.js';
import { createServices } from '../../src/services.js';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { AFTER_LOGOUT, SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { jwks, kidOf } from '../support/keys.js';
import { emailsTo, lastEmailTo } from '../support/mail.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const NO_FACTOR_ADMIN = { nik: '3571024107900004', name: 'Rina Admin', birthdate: '1990-07-01', email: 'rina@kedirikota.go.id', password: 'admin-tanpa-faktor-kedua' };
/** Never reached: the logouts are only queued in this test (their delivery is logout.test.ts's). */
const BACKCHANNEL = 'http://127.0.0.1:9/backchannel-logout';

let server: TestServer;
/** A second server process on the same database (in this test process: its own provider, schedule copy and listener). */
let second: { url: string; instance: Instance; close(): Promise<void> };
let client: { clientId: string; clientSecret: string };
let admin: Agent;
let _csrf: string;

async function secondServer() {
  const log = createLogger('silent');
  const instance = await createInstance(await createServices(server.instance.config, server.testDb.db, log, server.clock), log);
  const listener = http.createServer(instance.app.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(listener.address() as AddressInfo).port}`,
    instance,
    async close() {
      instance.close();
      listener.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

/** A browser signed in to the admin console with a fresh login, and a CSRF token of its own. */
async function signedInAdmin(who: { email: string; password: string }, totp?: string) {
  const agent = new Agent(server.url);
  const landed = await signIn(agent, (await agent.request('/admin')).headers.get('location')!, who.email, who.password, { totp });
  const { res } = await agent.follow(landed);
  return { agent, res: res!, html: await res!.text() };
}

beforeAll(async () => {
  server = await startTestServer({ KEY_PROMOTION_SECONDS: '600' });
  second = await secondServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, ADMIN);
  await createCitizen(server.instance, DEV);
  await createCitizen(server.instance, NO_FACTOR_ADMIN);
  const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
  await server.instance.staff.grant(DEV.email, 'developer', 'test', 'bppkad');
  await server.instance.staff.grant(NO_FACTOR_ADMIN.email, 'admin', 'test');
  client = await createWebClient(server.instance, { backchannelLogoutUri: BACKCHANNEL });
  const signedIn = await signedInAdmin(ADMIN, totp);
  expect(signedIn.res.status).toBe(200);
  admin = signedIn.agent;
  _csrf = csrfTokenOf(await (await admin.request('/admin/kunci')).text());
});

afterAll(async () => {
  await second.close();
  await server.close();
});

const kidsAt = async (url: string) => (await jwks(url)).keys.map((key) => key.kid!);
const current = async (alg: string) => (await server.instance.signingKeys.list()).find((key) => key.alg === alg && key.state === 'current')!.kid;
const states = async () => Object.fromEntries((await server.instance.signingKeys.list()).map((key) => [key.kid, key.state]));
const verifies = async (jwt: string) =>
  jwtVerify(jwt, createLocalJWKSet(await jwks(server.url)), { issuer: server.url, audience: client.clientId }).then(() => true, () => false);
const revocations = async () =>
  (await server.instance.db.query<{ actor: string; details: Record<string, unknown> }>("select actor, details from audit_events where type = 'keys.revoked' order by id")).rows;
const sessionsEnded = async () =>
  (await server.instance.db.query<{ actor: string; details: Record<string, unknown> }>("select actor, details from audit_events where type = 'keys.sessions_ended' order by id")).rows;
const queuedLogouts = async (sid: string) =>
  (await server.instance.db.query('select client_id from logout_outbox where sid = $1', [sid])).rows;
/** Signs in at the client (with a refresh token): the ID token, its sid, and the refresh token. */
async function session(rp: oidc.Configuration) {
  const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
  return { idToken: tokens.id_token!, sid: tokens.claims()!.sid as string, refreshToken: tokens.refresh_token! };
}

describe('revoking the current RS256 key, sessions left alone', () => {
  let revoked: string;
  let before: Awaited<ReturnType<typeof session>>;

  test('the confirmation page names the key and offers to end the sessions', async () => {
    revoked = await current('RS256');
    const list = await (await admin.request('/admin/kunci')).text();
    expect(list).toContain(`href="/admin/kunci/${revoked}/cabut"`);
    const page = await (await admin.request(`/admin/kunci/${revoked}/cabut`)).text();
    expect(page).toContain('Cabut kunci RS256 ini sekarang?');
    expect(page).toContain(`Saya mengerti: kunci ${revoked} dicabut sekarang untuk selamanya`);
    expect(page).toContain('name="end_sessions" type="checkbox" value="ya"');
    const english = await (await admin.request(`/admin/kunci/${revoked}/cabut?lang=en`)).text();
    expect(english).toContain('Revoke this RS256 key now?');
    await admin.request('/admin/kunci?lang=id');
  });

  test('without the tick nothing is revoked (400, the reason on the page)', async () => {
    before = await session(await relyingParty(server.url, client.clientId, client.clientSecret));
    expect(kidOf(before.idToken)).toBe(revoked);
    const res = await admin.post(`/admin/kunci/${revoked}/cabut`, { _csrf });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Centang pernyataan bahwa Anda mengerti');
    expect((await states())[revoked]).toBe('current');
  });

  test('revoked: out of both processes\' JWKS at once; tokens it signed fail, a new key signs at once and its tokens validate', async () => {
    const es256 = await current('ES256');
    const mailsBefore = await emailsTo(server.instance.db, DEV.email);
    const res = await admin.post(`/admin/kunci/${revoked}/cabut`, { _csrf, confirm: 'ya' });
    const returned = performance.now();
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/kunci?dicabut=1');
    // This process: gone before the answer came. The other one: as soon as it hears the announcement.
    expect(await kidsAt(server.url)).not.toContain(revoked);
    while ((await kidsAt(second.url)).includes(revoked) && performance.now() - returned < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
    const heardAfter = performance.now() - returned;
    console.info(`the second process dropped the revoked key from its JWKS ${heardAfter.toFixed(0)} ms after the revocation returned`);
    expect(heardAfter).toBeLessThan(1000); // the schedule's timer alone would take up to 5 s
    expect(await kidsAt(server.url)).toContain(es256);
    expect(await (await admin.request('/admin/kunci?dicabut=1')).text()).toContain('Kunci dicabut');

    // The token signed before fails against the JWKS; a new sign-in (a relying party that fetches the
    // JWKS now; openid-client checks the signature) gets a token of the new key, which validates in both.
    expect(await verifies(before.idToken)).toBe(false);
    const replacement = await current('RS256');
    expect(replacement).not.toBe(revoked);
    const after = await session(await relyingParty(server.url, client.clientId, client.clientSecret));
    expect(kidOf(after.idToken)).toBe(replacement);
    expect(await verifies(after.idToken)).toBe(true);
    await expect(jwtVerify(after.idToken, createLocalJWKSet(await jwks(second.url)), { issuer: server.url, audience: client.clientId })).resolves.toBeTruthy();
    // Only the RS256 key was revoked.
    expect(await current('ES256')).toBe(es256);
    expect((await states())[revoked]).toBe('revoked');
    // An old ID token is no longer accepted as id_token_hint either.
    const rp = await relyingParty(server.url, client.clientId, client.clientSecret);
    expect((await fetch(oidc.buildEndSessionUrl(rp, { id_token_hint: before.idToken, post_logout_redirect_uri: AFTER_LOGOUT }))).status).toBe(400);

    // Not asked to end sessions: the session's refresh token still works, and no logout is queued.
    const refreshed = await oidc.refreshTokenGrant(rp, before.refreshToken);
    expect(kidOf(refreshed.id_token!)).toBe(replacement);
    expect(await queuedLogouts(before.sid)).toEqual([]);

    // Audited, with the key, its replacement and what was ended.
    const [entry] = await revocations();
    expect(entry).toEqual({
      actor: expect.any(String),
      details: expect.objectContaining({ kid: revoked, alg: 'RS256', state: 'current', replacedBy: replacement, endSessions: false, sessionsEnded: 0, refreshTokensRevoked: 0, developersEmailed: 1 }),
    });
    // Every unit developer is told what their service must do, in Indonesian and English.
    expect(await emailsTo(server.instance.db, DEV.email)).toBe(mailsBefore + 1);
    const mail = await lastEmailTo(server.instance.db, DEV.email);
    expect(mail.subject).toContain('Kunci penandatanganan Kediri ID dicabut');
    for (const text of [revoked, replacement, `${server.url}/jwks`, 'Perbarui cache JWKS sekarang', 'Refresh its JWKS cache now', 'Sesi dan refresh token yang ada tidak diakhiri']) {
      expect(mail.body).toContain(text);
    }
  });
});

describe('revoking with the sessions ended', () => {
  test('every session signed in while the key signed ends, its refresh tokens with it, and back-channel logouts are queued', async () => {
    const rp = await relyingParty(server.url, client.clientId, client.clientSecret);
    const before = await session(rp);
    const key = kidOf(before.idToken)!;
    const posted = admin.post(`/admin/kunci/${key}/cabut`, { _csrf, confirm: 'ya', end_sessions: 'ya' });
    // While the revocation waits for every process to stop signing with the key (one that missed
    // the announcement may still sign with it for a few seconds), a session signed in now is in
    // the set that may hold its tokens: it is ended too.
    while (!(await revocations()).some((entry) => entry.details.kid === key)) await new Promise((resolve) => setTimeout(resolve, 50));
    const meanwhile = await session(await relyingParty(server.url, client.clientId, client.clientSecret));
    expect((await posted).status).toBe(303);
    await expect(oidc.refreshTokenGrant(rp, before.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await queuedLogouts(before.sid)).toEqual([{ client_id: client.clientId }]);
    expect(await queuedLogouts(meanwhile.sid)).toEqual([{ client_id: client.clientId }]);
    expect((await revocations()).at(-1)!.details).toMatchObject({ kid: key, endSessions: true });
    const ended = (await sessionsEnded()).at(-1)!;
    expect(ended.details).toMatchObject({ kid: key });
    expect(ended.details.sessionsEnded).toBeGreaterThanOrEqual(2);
    expect(ended.details.refreshTokensRevoked).toBeGreaterThanOrEqual(2);
    expect((await lastEmailTo(server.instance.db, DEV.email)).body).toContain('Pengguna perlu masuk lagi');
    // A session signed in after the revocation is not touched by it, and works (a relying party
    // that cached the JWKS before it must fetch it again: openid-client waits 30 s before it does).
    const refreshedRp = await relyingParty(server.url, client.clientId, client.clientSecret);
    const after = await session(refreshedRp);
    await expect(oidc.refreshTokenGrant(refreshedRp, after.refreshToken)).resolves.toBeTruthy();
  });
});

describe('revoking during a rotation', () => {
  test('the current ES256 key: the next ES256 key signs at once; RS256 is left alone', async () => {
    const rotated = await server.instance.signingKeys.rotate('test');
    const es256 = await current('ES256');
    const rs256 = await current('RS256');
    const list = await server.instance.signingKeys.list();
    const nextEs256 = list.find((key) => key.alg === 'ES256' && key.state === 'next')!.kid;
    const nextRs256 = list.find((key) => key.alg === 'RS256' && key.state === 'next')!.kid;
    expect(rotated.published.sort()).toEqual([nextEs256, nextRs256].sort());
    const done = await server.instance.keyRevocation.revoke(es256, { actor: 'test', endSessions: false });
    expect(done).toMatchObject({ kid: es256, state: 'current', replacedBy: nextEs256 });
    expect(await states()).toMatchObject({ [es256]: 'revoked', [nextEs256]: 'current', [rs256]: 'current', [nextRs256]: 'next' });
    expect((await kidsAt(server.url)).sort()).toEqual([nextEs256, rs256, nextRs256].sort());
    // An ES256-signing client's ID tokens come from the promoted key at once.
    const es256Client = await createWebClient(server.instance, { name: 'Layanan ES256' });
    await server.instance.db.query(`update clients set metadata = metadata || '{"id_token_signed_response_alg": "ES256"}' where client_id = $1`, [es256Client.clientId]);
    const token = (await signInAndExchange(await relyingParty(server.url, es256Client.clientId, es256Client.clientSecret), SITI.email, SITI.password)).id_token!;
    expect(kidOf(token)).toBe(nextEs256);
  });

  test('a next key: the current key of its algorithm stays current, and a new rotation may start', async () => {
    const nextRs256 = (await server.instance.signingKeys.list()).find((key) => key.alg === 'RS256' && key.state === 'next')!.kid;
    const rs256 = await current('RS256');
    expect(await server.instance.keyRevocation.revoke(nextRs256, { actor: 'test', endSessions: true })).toMatchObject({
      state: 'next', replacedBy: null, sessionsEnded: 0, refreshTokensRevoked: 0,
    });
    expect(await kidsAt(server.url)).not.toContain(nextRs256);
    expect(await current('RS256')).toBe(rs256);
    await expect(server.instance.signingKeys.rotate('test')).resolves.toMatchObject({ retiring: expect.arrayContaining([rs256]) });
  });
});

describe('refused, and nothing changes', () => {
  const keyCount = async () => (await server.instance.db.query('select count(*)::int as n, count(revoked_at)::int as revoked from signing_keys')).rows[0];

  test('a kid that names no key (404), a revoked key, a retired key (409): a clear message on the page and from the CLI path', async () => {
    const revokedKid = (await server.instance.signingKeys.list()).find((key) => key.state === 'revoked')!.kid;
    await server.instance.db.query(
      "insert into signing_keys (kid, alg, private_jwk_enc, published_at, signing_from, retire_at) values ('pensiun', 'RS256', null, now() - interval '2 days', now() - interval '2 days', now() - interval '1 day')",
    );
    const counts = await keyCount();
    for (const [kid, status, message] of [
      ['tidak-ada', 404, 'Tidak ada kunci penandatanganan dengan kid itu.'],
      [revokedKid, 409, 'Kunci itu sudah dicabut.'],
      ['pensiun', 409, 'Kunci itu sudah pensiun'],
    ] as const) {
      const page = await admin.request(`/admin/kunci/${kid}/cabut`);
      expect({ kid, status: page.status }).toEqual({ kid, status });
      expect(await page.text()).toContain(message);
      const post = await admin.post(`/admin/kunci/${kid}/cabut`, { _csrf, confirm: 'ya', end_sessions: 'ya' });
      expect({ kid, status: post.status }).toEqual({ kid, status });
      expect(await post.text()).toContain(message);
    }
    await expect(server.instance.keyRevocation.revoke('tidak-ada', { actor: 'test', endSessions: false })).rejects.toMatchObject({ code: 'key_unknown' });
    expect(await keyCount()).toEqual(counts);
  });

  test('a forged CSRF token (403)', async () => {
    const kid = await current('RS256');
    const res = await admin.post(`/admin/kunci/${kid}/cabut`, { _csrf: 'palsu', confirm: 'ya' });
    expect(res.status).toBe(403);
    expect((await states())[kid]).toBe('current');
  });

  test('a login older than fifteen minutes: the admin signs in again first', async () => {
    const kid = await current('RS256');
    jest.useFakeTimers({ now: Date.now() + 16 * 60 * 1000, doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    try {
      const page = await admin.request(`/admin/kunci/${kid}/cabut`);
      expect(page.headers.get('location')).toBe(`/masuk?ulang=1&lanjut=${encodeURIComponent(`/admin/kunci/${kid}/cabut`)}`);
      const post = await admin.post(`/admin/kunci/${kid}/cabut`, { _csrf, confirm: 'ya' });
      expect(post.headers.get('location')).toBe('/masuk?ulang=1&lanjut=%2Fadmin');
    } finally {
      jest.useRealTimers();
    }
    expect((await states())[kid]).toBe('current');
  });

  test('an administrator without a second factor, and a unit developer (403)', async () => {
    const kid = await current('RS256');
    const noFactor = await signedInAdmin(NO_FACTOR_ADMIN);
    expect(noFactor.res.status).toBe(403);
    expect(noFactor.html).toContain('verifikasi dua langkah');
    expect((await noFactor.agent.request(`/admin/kunci/${kid}/cabut`)).status).toBe(403);
    expect((await noFactor.agent.post(`/admin/kunci/${kid}/cabut`, { _csrf: 'tanpa-sesi-admin', confirm: 'ya' })).status).toBe(403);
    const developer = await signedInAdmin(DEV);
    expect((await developer.agent.post(`/admin/kunci/${kid}/cabut`, { _csrf: 'tanpa-sesi-admin', confirm: 'ya' })).status).toBe(403);
    expect((await states())[kid]).toBe('current');
  });
});
