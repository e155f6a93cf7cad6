import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config.js';
import { createInstance, type Instance } from '../../src/instance.js';
import { createLogger } from '../../src/log.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';
import { createSealer, newSecret } from '../../src/secrets.js';
import { createServices } from '../../src/services.js';
import { TEST_ENV } from '../support/env.js';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Consent a citizen understands, pairwise subjects per unit and single sign-on: one browser signs
 * in once and then reaches the services of two units (A and C of Dispendukcapil, B of BPPKAD).
 */
const POLICY = 'https://akta.kedirikota.go.id/privasi';
/** The first bytes of a PNG: what the logo check looks at. */
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);

let server: TestServer;
let citizenId: string;
let a: oidc.Configuration;
/** A's credentials, for the second instance. */
let aClient: { clientId: string; clientSecret: string };
let b: oidc.Configuration;
let c: oidc.Configuration;
const browser = () => new Agent(server.url);
/** The one browser of the journey, signed in at A. */
let agent: Agent;
/** The subs the services saw. */
const seen: Record<string, string> = {};

async function client(unit: string, name: string, overrides: Parameters<typeof createWebClient>[1] = {}) {
  const { clientId, clientSecret } = await createWebClient(server.instance, { unit, name, ...overrides });
  return { clientId, clientSecret, rp: await relyingParty(server.url, clientId, clientSecret) };
}

/** Sends the browser to an authorization request: where it lands (a page of ours, or the redirect URI). */
async function authorize(on: Agent, rp: oidc.Configuration, params: Record<string, string> = {}) {
  const request = await authorizationRequest(rp, params);
  const { res, url } = await on.follow(request.url);
  const html = url.startsWith(server.url) ? await res!.text() : '';
  return { request, url, html };
}

/** Posts a step of the interaction page (login, consent, abort) and follows where it leads. */
async function submit(on: Agent, page: { url: string; html: string }, step: 'login' | 'consent' | 'abort', fields: Record<string, string> = {}) {
  const posted = await on.post(`${page.url.replace(/\/$/, '')}/${step}`, { _csrf: csrfTokenOf(page.html), ...fields });
  expect(posted.status).toBe(303);
  const { res, url } = await on.follow(posted.headers.get('location')!);
  return { url, html: url.startsWith(server.url) ? await res!.text() : '' };
}

const login = (on: Agent, page: { url: string; html: string }) => submit(on, page, 'login', { identifier: SITI.email, password: SITI.password });
const isLogin = (html: string) => html.includes('name="password"');
const isConsent = (html: string) => html.includes('Berikan akses') && !isLogin(html);

/** The code exchange, and the userinfo sub beside the ID token's. */
async function subOf(rp: oidc.Configuration, url: string, checks: Awaited<ReturnType<typeof authorizationRequest>>['checks']) {
  const tokens = await oidc.authorizationCodeGrant(rp, new URL(url), checks);
  const sub = tokens.claims()!.sub;
  expect((await oidc.fetchUserInfo(rp, tokens.access_token, sub)).sub).toBe(sub);
  expect((await oidc.tokenIntrospection(rp, tokens.access_token)).sub).toBe(sub);
  return sub;
}

const errorAt = (url: string) => {
  expect(url.startsWith(CALLBACK)).toBe(true);
  return new URL(url).searchParams.get('error');
};

beforeAll(async () => {
  server = await startTestServer();
  citizenId = (await createCitizen(server.instance)).id;
  await server.instance.units.setLogo('dispendukcapil', PNG, 'test', '127.0.0.1');
  // A's redirect URIs are on two hosts: its sector is still its unit.
  const created = await client('dispendukcapil', 'Layanan Akta', {
    scope: 'openid profile email phone address',
    redirectUris: [CALLBACK, 'https://akta.kedirikota.go.id/callback'],
  });
  await server.instance.db.query(`update clients set metadata = metadata || jsonb_build_object('policy_uri', $2::text) where client_id = $1`, [
    created.clientId,
    POLICY,
  ]);
  a = created.rp;
  aClient = created;
  b = (await client('bppkad', 'Pajak Daerah')).rp;
  c = (await client('dispendukcapil', 'Layanan KTP')).rp;
});
afterAll(() => server.close());

describe('consent and single sign-on across units', () => {
  test('A: login, then a consent page with the unit, the data in plain words and the privacy policy; the sub is pairwise for the unit', async () => {
    agent = browser();
    const start = await authorize(agent, a, { scope: 'openid profile email phone' });
    expect(isLogin(start.html)).toBe(true);
    const consent = await login(agent, start);
    expect(isConsent(consent.html)).toBe(true);
    expect(consent.html).toContain('Layanan Akta meminta akses ke akun Kediri ID Anda');
    expect(consent.html).toContain('Layanan Dispendukcapil.');
    expect(consent.html).toContain('<img class="unit-logo" src="/unit/dispendukcapil/logo" alt="Logo Dispendukcapil">');
    const data = [...consent.html.matchAll(/<li class="scope[^"]*"><strong>([^<]+)<\/strong>/g)].map((m) => m[1]);
    expect(data).toEqual(['Pengenal akun Anda', 'Nama lengkap, tanggal lahir, jenis kelamin', 'Email', 'Nomor HP']);
    // The policy opens in the same tab, without handing our page to it.
    expect(consent.html).toContain(`<a class="link" href="${POLICY}" rel="noopener noreferrer">Kebijakan privasi Layanan Akta</a>`);
    expect(consent.html).not.toContain('target=');
    expect(consent.html).toContain('>Tolak</button>');

    const done = await submit(agent, consent, 'consent');
    seen.a = await subOf(a, done.url, start.request.checks);
    expect(seen.a).toBe(pairwiseSubject(server.instance.sealer, 'dispendukcapil', citizenId));
    expect(seen.a).not.toBe(citizenId);
  });

  test('B, another unit: no password, only its consent; its sub differs from A\'s', async () => {
    const start = await authorize(agent, b, { scope: 'openid profile' });
    expect(isLogin(start.html)).toBe(false);
    expect(isConsent(start.html)).toBe(true);
    expect(start.html).toContain('Layanan BPPKAD.');
    // Without a logo or a policy URI the page simply goes without them.
    expect(start.html).not.toContain('unit-logo');
    expect(start.html).not.toContain('Kebijakan privasi');
    const done = await submit(agent, start, 'consent');
    seen.b = await subOf(b, done.url, start.request.checks);
    expect(seen.b).toBe(pairwiseSubject(server.instance.sealer, 'bppkad', citizenId));
    expect(seen.b).not.toBe(seen.a);
  });

  test('C, A\'s unit: the same sub as A', async () => {
    const start = await authorize(agent, c);
    expect(isConsent(start.html)).toBe(true);
    const done = await submit(agent, start, 'consent');
    expect(await subOf(c, done.url, start.request.checks)).toBe(seen.a);
  });

  test('a client an administrator marked public sees the account id', async () => {
    const marked = await client('bppkad', 'Layanan Publik');
    await server.instance.db.query("update clients set subject_type = 'public' where client_id = $1", [marked.clientId]);
    const start = await authorize(agent, marked.rp);
    const done = await submit(agent, start, 'consent');
    expect(await subOf(marked.rp, done.url, start.request.checks)).toBe(citizenId);
  });

  test('refusing consent returns access_denied to the service', async () => {
    const refused = await client('dpmptsp', 'Izin Usaha');
    const start = await authorize(agent, refused.rp);
    const done = await submit(agent, start, 'abort');
    expect(errorAt(done.url)).toBe('access_denied');
    expect(new URL(done.url).searchParams.get('state')).toBe(start.request.checks.expectedState);
    // The interaction ended with it (nothing else was written in that request: its deletion still was).
    const uid = new URL(start.url).pathname.split('/').pop();
    const left = await server.instance.db.query("select 1 from oidc_payloads where model = 'Interaction' and id = $1", [uid]);
    expect(left.rowCount).toBe(0);
  });

  test('a remembered grant skips consent, also at a later login in another browser; a new scope asks again, for it alone', async () => {
    const again = await authorize(agent, a, { scope: 'openid profile email phone' });
    expect(again.url.startsWith(`${CALLBACK}?code=`)).toBe(true);
    expect(await subOf(a, again.url, again.request.checks)).toBe(seen.a);

    const elsewhere = browser();
    const start = await authorize(elsewhere, a, { scope: 'openid profile email' });
    const landed = await login(elsewhere, start);
    expect(landed.url.startsWith(`${CALLBACK}?code=`)).toBe(true);
    expect(await subOf(a, landed.url, start.request.checks)).toBe(seen.a);

    const more = await authorize(agent, a, { scope: 'openid profile email address' });
    expect(isConsent(more.html)).toBe(true);
    expect([...more.html.matchAll(/<strong>([^<]+)<\/strong>/g)].map((m) => m[1])).toEqual(['Alamat']);
    const done = await submit(agent, more, 'consent');
    expect(await subOf(a, done.url, more.request.checks)).toBe(seen.a);
  });

  test('a grant the citizen revoked at /akun asks for consent again', async () => {
    const { res } = await agent.follow('/akun');
    const html = await res!.text();
    const { rows } = await server.instance.db.query<{ id: string }>(
      "select id from oidc_payloads where model = 'Grant' and payload->>'clientId' = $1",
      [a.clientMetadata().client_id],
    );
    expect(rows).toHaveLength(1);
    expect((await agent.post('/akun/layanan/cabut', { _csrf: csrfTokenOf(html), grant: rows[0]!.id })).status).toBe(303);

    const start = await authorize(agent, a, { scope: 'openid profile' });
    expect(isConsent(start.html)).toBe(true);
    const done = await submit(agent, start, 'consent');
    expect(await subOf(a, done.url, start.request.checks)).toBe(seen.a);
  });

  test('prompt=none: a code with a session and a grant, login_required without a session, consent_required without a grant', async () => {
    const silent = await authorize(agent, a, { scope: 'openid profile', prompt: 'none' });
    expect(await subOf(a, silent.url, silent.request.checks)).toBe(seen.a);

    expect(errorAt((await authorize(browser(), a, { prompt: 'none' })).url)).toBe('login_required');

    const unseen = await client('dpupr', 'Layanan Bangunan');
    expect(errorAt((await authorize(agent, unseen.rp, { prompt: 'none' })).url)).toBe('consent_required');
    expect(errorAt((await authorize(agent, b, { scope: 'openid profile email', prompt: 'none' })).url)).toBe('consent_required');
  });

  test('a higher acr than the session\'s still asks for a login', async () => {
    const verified = { acr_values: 'urn:kediri:acr:verified' };
    expect(isLogin((await authorize(agent, b, verified)).html)).toBe(true);
    expect(errorAt((await authorize(agent, b, { ...verified, prompt: 'none' })).url)).toBe('login_required');
  });

  test('the sub depends on the unit, the account and the instance key only: a second instance on the same database agrees', async () => {
    const key = server.instance.config.encryptionKey!;
    expect(pairwiseSubject(createSealer(key), 'dispendukcapil', citizenId)).toBe(seen.a);
    expect(pairwiseSubject(createSealer(newSecret()), 'dispendukcapil', citizenId)).not.toBe(seen.a);

    // As after a restart: another process of the instance, its own provider, the same database.
    const other = http.createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    let instance: Instance | undefined;
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      const config = loadConfig({ ISSUER: url, DATA_DIR: server.instance.config.dataDir, ENCRYPTION_KEY: key, LOG_LEVEL: 'silent', ...TEST_ENV });
      instance = await createInstance(await createServices(config, server.testDb.db), createLogger(config.logLevel));
      other.on('request', instance.app.callback());
      const rp = await relyingParty(url, aClient.clientId, aClient.clientSecret);
      const there = new Agent(url);
      const request = await authorizationRequest(rp, { scope: 'openid profile' });
      const { res, url: page } = await there.follow(request.url);
      const posted = await there.post(`${page}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: SITI.email, password: SITI.password });
      const { url: landed } = await there.follow(posted.headers.get('location')!);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(landed), request.checks);
      expect(tokens.claims()!.sub).toBe(seen.a);
    } finally {
      instance?.close();
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
