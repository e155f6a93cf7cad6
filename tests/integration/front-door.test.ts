/**
 * Kediri ID as the front door: the home page (signed out: sign in and register; signed in: the
 * citizen's name, account, sign-out and the services used, newest first, with unit and time; the
 * MPP's address and hours from configuration), and opening a service from there by OpenID
 * Connect third-party initiated login (/layanan/masuk/CLIENT_ID): initiate_login_uri validated by
 * the one registration check in the developer portal, the CLI and dynamic registration, shown in
 * the review's comparison; the redirect with iss (and target_link_uri); the home URL of a client
 * without one; 404 for an unknown or suspended client; and the sign-in that follows, completed by
 * the Kediri ID session without a password, with openid-client as the relying party.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runOperatorCommand } from '../../src/operator.js';
import { translator } from '../../src/i18n.js';
import { DEFAULT_MPP } from '../../src/config.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const INITIATE = 'https://pajak.kedirikota.go.id/masuk-dari-kediri-id?asal=kediri';

let server: TestServer;
let devTotp: string;

beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, ADMIN);
  await createCitizen(server.instance, DEV);
  devTotp = (await grantStaff(server.instance, DEV.email, 'developer', 'bppkad')).totp;
});
afterAll(() => server.close());

const escaped = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const t = translator('id');

/** Signs in through the portal to `area`; returns the browser and the page it lands on. */
async function signInTo(area: string, who: { email: string; password: string }, totp?: string) {
  const agent = new Agent(server.url);
  const start = await agent.request(`/masuk?lanjut=${encodeURIComponent(area)}`);
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { totp });
  const { res, url } = await agent.follow(landed);
  return { agent, url, status: res!.status, html: await res!.text() };
}

describe('the home page', () => {
  test('signed out: sign in and register, the MPP address and hours (defaults) and what to bring, in Indonesian and English', async () => {
    const agent = new Agent(server.url);
    const res = await agent.request('/');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<html lang="id">');
    expect(html).toContain('href="/masuk?lanjut=/">Masuk</a>');
    expect(html).toContain('href="/daftar">Daftar</a>');
    expect(html).toContain(escaped(DEFAULT_MPP.address));
    expect(html).toContain('Mal Pelayanan Publik Kota Kediri, Dhoho Plaza lantai 2, Jl. Dhoho, Kota Kediri');
    expect(html).toContain(DEFAULT_MPP.hours);
    expect(html).toContain('KTP-el asli');
    expect(html).not.toContain('<script');

    const en = await (await agent.request('/?lang=en')).text();
    expect(en).toContain('<html lang="en">');
    expect(en).toContain('href="/masuk?lanjut=/">Sign in</a>');
    expect(en).toContain('Your original KTP-el');
  });

  test('the MPP address and hours come from MPP_ADDRESS and MPP_HOURS', async () => {
    const other = await startTestServer({ MPP_ADDRESS: 'Gedung MPP Baru, Jl. Jaksa Agung Suprapto, Kota Kediri', MPP_HOURS: 'Senin–Sabtu 07.30–16.00' });
    try {
      const html = await (await fetch(`${other.url}/`)).text();
      expect(html).toContain('Gedung MPP Baru, Jl. Jaksa Agung Suprapto, Kota Kediri');
      expect(html).toContain('Senin–Sabtu 07.30–16.00');
      expect(html).not.toContain('Dhoho Plaza');
    } finally {
      await other.close();
    }
  });

  test('signed in: the name, account and sign-out, and the active services used, newest first, with unit and last sign-in', async () => {
    const akta = await createWebClient(server.instance, { name: 'Layanan Akta Kelahiran', unit: 'dispendukcapil', scope: 'openid profile' });
    const pajak = await createWebClient(server.instance, { name: 'Pajak Daerah Online', unit: 'bppkad', scope: 'openid profile' });
    const pasar = await createWebClient(server.instance, { name: 'Retribusi Pasar', unit: 'bppkad', scope: 'openid profile' });
    for (const client of [akta, pasar, pajak]) {
      await signInAndExchange(await relyingParty(server.url, client.clientId, client.clientSecret), SITI.email, SITI.password, { scope: 'openid profile' });
    }
    // A suspended service is not offered.
    await server.instance.clients.setStatus(pasar.clientId, 'suspended', 'test');

    const { url, status, html, agent } = await signInTo('/', SITI);
    expect(url).toBe(`${server.url}/`);
    expect(status).toBe(200);
    expect(html).toContain(`Halo, ${SITI.name}`);
    expect(html).toContain('href="/akun">Akun saya</a>');
    expect(html).toContain('action="/keluar"');
    expect(html).not.toContain('href="/masuk?lanjut=/"');
    const listed = [...html.matchAll(/href="\/layanan\/masuk\/([^"]+)">Buka ([^<]+)<\/a>[\s\S]*?<p class="hint">([^<]+)<\/p>/g)]
      .map(([, clientId, name, line]) => ({ clientId, name, line }));
    expect(listed.map((s) => s.clientId)).toEqual([pajak.clientId, akta.clientId]);
    expect(listed[0]!.name).toBe('Pajak Daerah Online');
    expect(listed[0]!.line).toMatch(/^BPPKAD · terakhir masuk \d{1,2} \S+ \d{4} \d{2}\.\d{2} WIB$/);
    expect(listed[1]!.line).toMatch(/^Dispendukcapil · terakhir masuk /);
    // Kediri ID's own portal is not a service of the list.
    expect(html).not.toContain('kediri-id-portal');

    // Signing out from the home page: the home page is signed out again.
    expect((await agent.post('/keluar', { _csrf: csrfTokenOf(html) })).status).toBe(303);
    expect(await (await agent.request('/')).text()).toContain('href="/masuk?lanjut=/"');
  });

  test('a citizen who used no service yet is told so', async () => {
    const { html } = await signInTo('/', DEV, devTotp);
    expect(html).toContain(`Halo, ${DEV.name}`);
    expect(html).toContain(escaped(t('home.no_services')));
  });
});

describe('third-party initiated login (/layanan/masuk/CLIENT_ID)', () => {
  test('an active client with initiate_login_uri: 303 there with iss (its own query kept), and no login_hint even when signed in', async () => {
    const { clientId } = await createWebClient(server.instance, { name: 'Pajak Daerah', unit: 'bppkad', initiateLoginUri: INITIATE });
    const { agent } = await signInTo('/', SITI);
    const res = await agent.request(`/layanan/masuk/${clientId}`);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe('https://pajak.kedirikota.go.id/masuk-dari-kediri-id');
    expect(Object.fromEntries(location.searchParams)).toEqual({ asal: 'kediri', iss: server.url });

    // target_link_uri of the service's own origin goes along; another site's is refused.
    const target = 'https://pajak.kedirikota.go.id/pbb/tagihan?tahun=2025';
    const withTarget = await agent.request(`/layanan/masuk/${clientId}?target_link_uri=${encodeURIComponent(target)}`);
    expect(withTarget.status).toBe(303);
    expect(new URL(withTarget.headers.get('location')!).searchParams.get('target_link_uri')).toBe(target);
    for (const bad of ['https://jahat.example/pbb', 'http://pajak.kedirikota.go.id/pbb', 'bukan alamat']) {
      const refused = await agent.request(`/layanan/masuk/${clientId}?target_link_uri=${encodeURIComponent(bad)}`);
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain(escaped(t('initiate-login.target_invalid.message')));
    }
    const twice = await agent.request(`/layanan/masuk/${clientId}?target_link_uri=${encodeURIComponent(target)}&target_link_uri=${encodeURIComponent(target)}`);
    expect(twice.status).toBe(400);
  });

  test('a client without initiate_login_uri goes to its home: the origin of its first redirect URI', async () => {
    const { clientId } = await createWebClient(server.instance, { redirectUris: ['https://akta.kedirikota.go.id/oidc/callback', CALLBACK] });
    const res = await fetch(`${server.url}/layanan/masuk/${clientId}?target_link_uri=${encodeURIComponent('https://akta.kedirikota.go.id/x')}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://akta.kedirikota.go.id/');
  });

  test('an unknown, suspended or machine-to-machine client is a clear 404', async () => {
    const suspended = await createWebClient(server.instance, { initiateLoginUri: INITIATE });
    await server.instance.clients.setStatus(suspended.clientId, 'suspended', 'test');
    const service = await server.instance.clients.createActive({
      unit: 'bppkad', name: 'Sinkronisasi PBB', redirectUris: [], postLogoutRedirectUris: [], scope: 'profile',
      authMethod: 'client_secret_basic', grantTypes: ['client_credentials'],
    }, 'test');
    for (const clientId of ['tidak-ada', suspended.clientId, service.client_id, 'x'.repeat(300)]) {
      const res = await fetch(`${server.url}/layanan/masuk/${clientId}`, { redirect: 'manual' });
      expect(res.status).toBe(404);
      const html = await res.text();
      expect(html).toContain('Layanan tidak ditemukan');
      expect(html).toContain(escaped(t('initiate-login.unknown.message')));
    }
    // What the database cannot hold is refused before it is looked up.
    expect((await fetch(`${server.url}/layanan/masuk/%00`, { redirect: 'manual' })).status).toBe(400);
  });

  test('the relying party receives iss, starts an authorization request, and the Kediri ID session completes it without a password', async () => {
    const rpOrigin = 'http://127.0.0.1:9';
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Izin Usaha', initiateLoginUri: `${rpOrigin}/login`, scope: 'openid profile' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const { agent } = await signInTo('/', SITI);

    // Kediri ID sends the browser to the service's initiate-login endpoint (off the server)...
    const { url } = await agent.follow(`/layanan/masuk/${clientId}`);
    const initiate = new URL(url);
    expect(`${initiate.origin}${initiate.pathname}`).toBe(`${rpOrigin}/login`);
    // ...which checks iss against the issuer it trusts, and starts an ordinary authorization request.
    expect(initiate.searchParams.get('iss')).toBe(rp.serverMetadata().issuer);
    const request = await authorizationRequest(rp, { scope: 'openid profile' });
    let { res, url: at } = await agent.follow(request.url);
    // The session signs the citizen in: no password page, at most the service's consent.
    for (let step = 0; step < 2 && at.includes('/interaction/'); step++) {
      const html = await res!.text();
      expect(html).not.toContain('name="password"');
      const posted = await agent.post(`${at}/consent`, { _csrf: csrfTokenOf(html) });
      expect(posted.status).toBe(303);
      ({ res, url: at } = await agent.follow(posted.headers.get('location')!));
    }
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(at), request.checks);
    expect(tokens.claims()!.sub).toBeTruthy();
  });
});

describe('initiate_login_uri: one rule for the developer portal, the CLI and dynamic registration', () => {
  const WEB = {
    name: 'Layanan Pajak Daerah', type: 'web', redirect_uris: 'https://pajak.kedirikota.go.id/callback', scopes: 'profile',
    auth_method: 'client_secret_basic', policy_uri: 'https://pajak.kedirikota.go.id/privasi', contact: 'tim@bppkad.example.id',
  };
  const inlineError = (html: string, field: string) => new RegExp(`id="${field}-error">([\\s\\S]*?)</p>`).exec(html)?.[1];

  test('the developer portal refuses http off the loopback and a bad URL with the field\'s message, and accepts https and loopback http', async () => {
    const { agent, html } = await signInTo('/developer/permintaan/baru', DEV, devTotp);
    const _csrf = csrfTokenOf(html);
    expect(html).toContain('name="initiate_login_uri"');
    for (const [uri, code] of [['http://pajak.kedirikota.go.id/masuk', 'uri_not_https'], ['pajak/masuk', 'uri_invalid'], ['https://pajak.kedirikota.go.id/masuk#x', 'uri_invalid']] as const) {
      const res = await agent.post('/developer/permintaan/baru', { _csrf, ...WEB, initiate_login_uri: uri });
      expect(res.status).toBe(400);
      expect(inlineError(await res.text(), 'initiate_login_uri')).toContain(escaped(t(`developer.error.${code}`)));
    }
    for (const uri of [INITIATE, 'http://127.0.0.1:8080/login']) {
      const res = await agent.post('/developer/permintaan/baru', { _csrf, ...WEB, initiate_login_uri: uri });
      expect(res.status).toBe(303);
    }
  });

  test('the CLI refuses it with the flag named, and stores a good one', async () => {
    const base = ['client', 'create', '--unit', 'bppkad', '--name', 'Layanan Pajak Daerah', '--redirect-uri', 'https://pajak.kedirikota.go.id/callback'];
    const bad = await runOperatorCommand(server.instance, [...base, '--initiate-login-uri', 'http://pajak.kedirikota.go.id/masuk'], '');
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^kediri-id: --initiate-login-uri: must be https/);
    const good = await runOperatorCommand(server.instance, [...base, '--initiate-login-uri', INITIATE], '');
    expect(good.stderr).toBe('');
    const { client_id: clientId } = JSON.parse(good.stdout) as { client_id: string };
    expect((await server.instance.clients.find(server.instance.db, clientId))!.metadata).toMatchObject({ initiate_login_uri: INITIATE });
  });

  test('dynamic registration refuses it as invalid_client_metadata, and accepts loopback http (which oidc-provider alone would refuse)', async () => {
    const adminId = (await server.instance.citizens.findByEmail(ADMIN.email))!.id;
    const { token } = await server.instance.dynamicRegistration.issueAccessToken({ unit: 'bppkad', uses: 2, expiresInHours: 1 }, adminId, '127.0.0.1');
    const register = (initiate: string) => fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        client_name: 'Layanan Izin Usaha', redirect_uris: [CALLBACK], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid profile', policy_uri: 'https://izin.kedirikota.go.id/privasi', contacts: ['pengembang@kedirikota.go.id'], initiate_login_uri: initiate,
      }),
    });
    const refused = await register('http://izin.kedirikota.go.id/masuk');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'initiate_login_uri: must be https (http only on the loopback)' });
    const accepted = await register('http://127.0.0.1:9/login');
    expect(accepted.status).toBe(201);
    expect(await accepted.json()).toMatchObject({ initiate_login_uri: 'http://127.0.0.1:9/login' });
  });

  test('the review compares it side by side: a change that adds it is marked changed', async () => {
    const devId = (await server.instance.citizens.findByEmail(DEV.email))!.id;
    const registration = {
      name: 'Pajak Daerah Online', type: 'web' as const, redirectUris: [CALLBACK], postLogoutRedirectUris: [], scopes: ['profile'], scopeReasons: {},
      authMethod: 'client_secret_basic' as const, policyUri: 'https://pajak.kedirikota.go.id/privasi', contact: DEV.email,
    };
    const adminId = (await server.instance.citizens.findByEmail(ADMIN.email))!.id;
    const first = await server.instance.clientRequests.submit({ unit: 'bppkad', registration, submittedBy: devId });
    const clientId = await server.instance.clientRequests.approve(first, adminId, [], '127.0.0.1');
    const change = await server.instance.clientRequests.submit({ unit: 'bppkad', registration: { ...registration, initiateLoginUri: INITIATE }, submittedBy: devId, clientId });

    const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
    const { agent } = await signInTo('/admin', ADMIN, totp);
    const page = await (await agent.request(`/admin/permintaan/${change}`)).text();
    const row = /<tr[^>]*>\s*<th scope="row">Initiate login URI[\s\S]*?<\/tr>/.exec(page)?.[0];
    expect(row).toContain(t('admin.request.changed'));
    expect(row).toContain(escaped(INITIATE));
  });
});
