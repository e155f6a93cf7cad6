import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, grantStaff } from '../support/fixtures.js';
import { relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runOperatorCommand } from '../../src/operator.js';
import { translator } from '../../src/i18n.js';
import type { Middleware } from 'koa';
import { developerRouter } from '../../src/web/developer/router.js';
import type { AppDeps } from '../../src/web/app.js';

const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const OTHER_DEV = { nik: '3571022208850004', name: 'Eko Prasetyo', birthdate: '1985-08-22', email: 'eko@dpupr.example.id', password: 'tahu-takwa-dan-getuk-pisang' };
const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };

/** A valid registration of a web application, as the form posts it. */
const WEB: Record<string, string | string[]> = {
  name: 'Layanan Pajak Daerah',
  type: 'web',
  redirect_uris: 'https://pajak.kedirikota.go.id/callback',
  post_logout_redirect_uris: 'https://pajak.kedirikota.go.id/keluar',
  scopes: ['profile', 'email'],
  auth_method: 'client_secret_basic',
  policy_uri: 'https://pajak.kedirikota.go.id/privasi',
  contact: 'tim@bppkad.example.id',
};
/** A machine-to-machine service: what the token endpoint tests use (client credentials). */
const SERVICE = { ...WEB, name: 'Sinkronisasi PBB', type: 'service', redirect_uris: 'https://ignored.example.id/cb', scopes: ['profile'] };

let server: TestServer;
let adminId: string;
let developerId: string;
let devTotp: string;
let developer: Portal;
let otherDeveloper: Portal;

beforeAll(async () => {
  server = await startTestServer();
  for (const person of [SITI, DEV, OTHER_DEV]) await createCitizen(server.instance, person);
  adminId = (await createCitizen(server.instance, ADMIN)).id;
  developerId = await idOf(DEV.email);
  devTotp = (await grantStaff(server.instance, DEV.email, 'developer', 'bppkad')).totp;
  const otherTotp = (await grantStaff(server.instance, OTHER_DEV.email, 'developer', 'dpupr')).totp;
  developer = await signInToPortal(DEV, devTotp);
  otherDeveloper = await signInToPortal(OTHER_DEV, otherTotp);
});

afterAll(() => server.close());

async function idOf(email: string): Promise<string> {
  const { rows } = await server.instance.db.query<{ id: string }>('select id from citizens where email = $1', [email]);
  return rows[0]!.id;
}

interface Portal {
  agent: Agent;
  status: number;
  html: string;
  /** The browser's CSRF token, from the first form it was shown. */
  csrf?: string;
}

/** Signs in to /developer through Kediri ID (a fresh login with the second factor, as the staff areas ask). */
async function signInToPortal(who: { email: string; password: string }, totp?: string): Promise<Portal> {
  const agent = new Agent(server.url);
  const start = await agent.request('/developer');
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { totp });
  const { res } = await agent.follow(landed);
  return { agent, status: res!.status, html: await res!.text() };
}

async function get(portal: Portal, path: string): Promise<{ status: number; html: string }> {
  const res = await portal.agent.request(path);
  return { status: res.status, html: await res.text() };
}

/** POSTs a form whose fields may repeat (checkboxes), with the browser's CSRF token unless given. */
async function post(portal: Portal, path: string, fields: Record<string, string | string[]>) {
  portal.csrf ??= csrfTokenOf((await get(portal, '/developer/permintaan/baru')).html);
  const body = new URLSearchParams({ _csrf: portal.csrf });
  for (const [name, value] of Object.entries(fields)) {
    if (name === '_csrf') body.set(name, String(value));
    else for (const one of [value].flat()) body.append(name, one);
  }
  const res = await portal.agent.request(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

/** The inline error of a form field, or undefined. */
const inlineError = (html: string, field: string) => new RegExp(`id="${field}-error">([\\s\\S]*?)</p>`).exec(html)?.[1];

const requestCount = async () => (await server.instance.db.query<{ n: number }>('select count(*)::int as n from client_requests')).rows[0]!.n;

/** Submits through the portal; returns the request's id. */
async function submit(portal: Portal, fields: Record<string, string | string[]>): Promise<string> {
  const res = await post(developer, '/developer/permintaan/baru', fields);
  expect(res.status).toBe(303);
  return /\/developer\/permintaan\/([0-9a-f-]{36})$/.exec(res.location!)![1]!;
}

/** A client of the first developer's unit, approved by an administrator: its id. */
async function approvedClient(fields: Record<string, string | string[]>): Promise<{ requestId: string; clientId: string }> {
  const requestId = await submit(developer, fields);
  const clientId = await server.instance.clientRequests.approve(requestId, adminId, [], '127.0.0.1');
  return { requestId, clientId };
}

/** Shows the client secret of an approved request (the button on its page). */
const revealSecret = (portal: Portal, requestId: string) => post(portal, `/developer/permintaan/${requestId}/rahasia`, {});

const secretIn = (html: string) => /id="client-secret">([^<]+)</.exec(html)?.[1];

describe('access to the developer portal', () => {
  test('needs a sign-in and the developer role', async () => {
    const anonymous = await fetch(`${server.url}/developer`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toMatch(/^\/masuk\?lanjut=%2Fdeveloper/);
    const citizen = await signInToPortal(SITI);
    expect(citizen.status).toBe(403);
    expect(developer.status).toBe(200);
    expect(developer.html).toContain('Portal pengembang');
    expect(developer.html).toContain('Unit BPPKAD');
    expect(developer.html).toContain('href="/developer/permintaan/baru"');
  });

  test('the form shows every field, in Bahasa Indonesia first and in English', async () => {
    const { status, html } = await get(developer, '/developer/permintaan/baru');
    expect(status).toBe(200);
    for (const field of ['name', 'type', 'redirect_uris', 'post_logout_redirect_uris', 'backchannel_logout_uri', 'scopes', 'reason_nik', 'reason_address', 'auth_method', 'jwks', 'jwks_uri', 'logo_uri', 'policy_uri', 'contact']) {
      expect(html).toContain(`name="${field}"`);
    }
    // One unit: nothing to choose.
    expect(html).not.toContain('name="unit"');
    expect(html).toContain('Daftarkan layanan baru');
    expect(html).not.toMatch(/<script(?![^>]*src=)/);
    expect((await get(developer, '/developer/permintaan/baru?lang=en')).html).toContain('Register a new service');
    expect((await get(developer, '/developer?lang=id')).html).toContain('Daftarkan layanan baru');
  });

  test('a forged CSRF token is refused (403) and nothing is stored', async () => {
    const before = await requestCount();
    const res = await post(developer, '/developer/permintaan/baru', { ...WEB, _csrf: 'forged' });
    expect(res.status).toBe(403);
    expect(await requestCount()).toBe(before);
  });
});

describe('a registration request', () => {
  test('bad input is answered 400 with the error on each field, the values kept, and nothing stored', async () => {
    const before = await requestCount();
    const cases: Array<[Record<string, string | string[]>, string, RegExp]> = [
      [{ redirect_uris: 'http://pajak.kedirikota.go.id/callback' }, 'redirect_uris', /harus memakai https/],
      [{ redirect_uris: 'https://pajak.kedirikota.go.id/callback#x' }, 'redirect_uris', /tanpa bagian #/],
      [{ redirect_uris: 'https://*.kedirikota.go.id/callback' }, 'redirect_uris', /tanpa tanda \*/],
      [{ post_logout_redirect_uris: 'javascript:alert(1)' }, 'post_logout_redirect_uris', /harus memakai https/],
      [{ scopes: ['profile', 'nik'], reason_nik: 'perlu' }, 'reason_nik', /minimal 20 karakter/],
      [{ scopes: ['profile', 'warisan'] }, 'scopes', /Pilih cakupan/],
      [{ auth_method: 'private_key_jwt', jwks: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'rahasia' }] }) }, 'jwks', /kunci publik/],
      [{ auth_method: 'private_key_jwt' }, 'jwks', /private_key_jwt/],
      [{ name: 'X', contact: 'bukan-email' }, 'name', /2 sampai 100/],
      [{ unit: 'dpupr' }, 'unit', /unit Anda sendiri/],
      [{ policy_uri: '' }, 'policy_uri', /kebijakan privasi/],
    ];
    for (const [change, field, message] of cases) {
      const res = await post(developer, '/developer/permintaan/baru', { ...WEB, ...change });
      expect(res.status).toBe(400);
      expect(res.html).toContain('class="error-summary"');
      expect(`${field}: ${inlineError(res.html, field)}`).toMatch(message);
      expect(res.html).toContain(`href="#${field}"`);
      expect(res.html).toContain(`value="${String(change.name ?? WEB.name)}"`);
    }
    // A service has no redirect URIs: bad ones are ignored, the other problems are still named.
    const service = await post(developer, '/developer/permintaan/baru', { ...SERVICE, redirect_uris: 'http://*#', contact: '' });
    expect(service.status).toBe(400);
    expect(inlineError(service.html, 'redirect_uris')).toBeUndefined();
    expect(inlineError(service.html, 'contact')).toMatch(/alamat email/);
    expect(await requestCount()).toBe(before);
  });

  test('a form that is not a form at all is a 400', async () => {
    const res = await post(developer, '/developer/permintaan/baru', { ...WEB, 'scopes[x]': 'profile' });
    expect(res.status).toBe(400);
  });

  test('a valid request is stored as pending and listed; a developer of another unit cannot see it', async () => {
    const id = await submit(developer, {
      ...WEB,
      name: 'Layanan Retribusi',
      scopes: ['profile', 'nik'],
      reason_nik: 'Mencocokkan wajib retribusi dengan data kependudukan.',
      frontchannel_logout_uri: 'https://retribusi.kedirikota.go.id/keluar-iframe',
    });
    const page = await get(developer, `/developer/permintaan/${id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('Menunggu tinjauan');
    expect(page.html).toContain('Mencocokkan wajib retribusi');
    const home = await get(developer, '/developer');
    expect(home.html).toContain(`/developer/permintaan/${id}`);
    expect(home.html).toContain('Layanan Retribusi');

    const stored = await server.instance.clientRequests.get(id);
    expect(stored).toMatchObject({ unit: 'bppkad', status: 'pending', kind: 'create', submittedBy: developerId });
    expect(stored!.details.scopes).toEqual(['profile', 'nik']);
    expect(stored!.details.frontchannelLogoutUri).toBe('https://retribusi.kedirikota.go.id/keluar-iframe');

    expect((await get(otherDeveloper, `/developer/permintaan/${id}`)).status).toBe(404);
    expect((await get(otherDeveloper, '/developer')).html).not.toContain('Layanan Retribusi');
    expect((await get(developer, '/developer/permintaan/bukan-id')).status).toBe(404);
    expect((await get(developer, '/developer/permintaan/00000000-0000-0000-0000-000000000000')).status).toBe(404);
  });

  test('a service keeps no redirect URIs; a rejected request shows the reviewer\'s reason', async () => {
    const id = await submit(developer, { ...SERVICE, name: 'Layanan Ditolak' });
    expect((await server.instance.clientRequests.get(id))!.details.redirectUris).toEqual([]);
    await server.instance.clientRequests.reject(id, adminId, 'Kebijakan privasi belum lengkap.', '127.0.0.1');
    expect((await get(developer, `/developer/permintaan/${id}`)).html).toContain('Kebijakan privasi belum lengkap.');
    expect((await get(developer, '/developer')).html).toContain('Kebijakan privasi belum lengkap.');
  });
});

describe('an approved client', () => {
  test('its secret is shown once; a new secret replaces it and the old one stops working at the token endpoint', async () => {
    const { requestId, clientId } = await approvedClient({ ...SERVICE, name: 'Sinkronisasi Data Pajak' });
    const page = await get(developer, `/developer/permintaan/${requestId}`);
    expect(page.html).toContain('Lihat rahasia klien (sekali saja)');
    expect((await revealSecret(otherDeveloper, requestId)).status).toBe(404);

    const shown = await revealSecret(developer, requestId);
    expect(shown.status).toBe(200);
    const secret = secretIn(shown.html)!;
    expect(secret).toMatch(/^[\w-]{40,}$/);
    const again = await revealSecret(developer, requestId);
    expect(secretIn(again.html)).toBeUndefined();
    expect(again.html).toContain('sudah pernah ditampilkan');
    expect((await get(developer, `/developer/permintaan/${requestId}`)).html).not.toContain('Lihat rahasia klien');

    const rp = await relyingParty(server.url, clientId, secret);
    expect((await oidc.clientCredentialsGrant(rp, {})).access_token).toBeTruthy();

    const clientPage = await get(developer, `/developer/layanan/${clientId}`);
    expect(clientPage.html).toContain('Ganti rahasia klien');
    const unconfirmed = await post(developer, `/developer/layanan/${clientId}/rahasia`, {});
    expect(unconfirmed.status).toBe(400);
    expect(inlineError(unconfirmed.html, 'confirm')).toMatch(/Centang kotak ini/);
    expect((await post(otherDeveloper, `/developer/layanan/${clientId}/rahasia`, { confirm: 'ya' })).status).toBe(404);

    const rotated = await post(developer, `/developer/layanan/${clientId}/rahasia`, { confirm: 'ya' });
    expect(rotated.status).toBe(200);
    expect(rotated.location).toBeNull();
    const newSecret = secretIn(rotated.html)!;
    expect(newSecret).toBeTruthy();
    expect(newSecret).not.toBe(secret);
    await expect(oidc.clientCredentialsGrant(rp, {})).rejects.toMatchObject({ status: 401 });
    const renewed = await relyingParty(server.url, clientId, newSecret);
    expect((await oidc.clientCredentialsGrant(renewed, {})).access_token).toBeTruthy();
    const audited = await server.instance.db.query("select 1 from audit_events where type in ('client.secret_shown', 'client.secret_rotated') and client_id = $1", [clientId]);
    expect(audited.rowCount).toBe(2);
  });

  test('a change request starts from the live client, is compared side by side, and only one is open at a time', async () => {
    const { clientId } = await approvedClient({ ...WEB, name: 'Layanan BPHTB' });
    const form = await get(developer, `/developer/layanan/${clientId}/ubah`);
    expect(form.status).toBe(200);
    expect(form.html).toContain('value="Layanan BPHTB"');
    expect(form.html).toContain('https://pajak.kedirikota.go.id/callback</textarea>');
    expect(form.html).toMatch(/value="email" checked/);

    // Another unit's developer can neither see nor change it.
    expect((await get(otherDeveloper, `/developer/layanan/${clientId}/ubah`)).status).toBe(404);
    expect((await get(otherDeveloper, `/developer/layanan/${clientId}`)).status).toBe(404);
    const foreign = await post(otherDeveloper, `/developer/layanan/${clientId}/ubah`, { ...WEB, name: 'Diambil alih' });
    expect(foreign.status).toBe(404);

    const bad = await post(developer, `/developer/layanan/${clientId}/ubah`, { ...WEB, name: 'Layanan BPHTB Daring', redirect_uris: 'https://pajak.kedirikota.go.id/*' });
    expect(bad.status).toBe(400);
    expect(inlineError(bad.html, 'redirect_uris')).toBeTruthy();

    const changed = await post(developer, `/developer/layanan/${clientId}/ubah`, { ...WEB, name: 'Layanan BPHTB Daring', scopes: ['profile', 'email', 'phone'] });
    expect(changed.status).toBe(303);
    const page = await get(developer, changed.location!);
    expect(page.html).toContain('Perubahan yang diminta dibandingkan dengan layanan yang berlaku');
    expect(page.html).toMatch(/Nama layanan <span class="tag">diubah<\/span><\/th>\s*<td class="table__value"[^>]*>Layanan BPHTB<\/td>\s*<td class="table__value"[^>]*>Layanan BPHTB Daring<\/td>/);
    expect(page.html).toMatch(/Cakupan <span class="tag">diubah<\/span>/);
    expect(page.html).not.toMatch(/Email kontak <span class="tag">/);

    const second = await post(developer, `/developer/layanan/${clientId}/ubah`, { ...WEB, name: 'Layanan BPHTB Lagi' });
    expect(second.status).toBe(409);
    expect(second.html).toContain('sudah punya permintaan yang menunggu tinjauan');
    const { rows } = await server.instance.db.query("select 1 from client_requests where client_id = $1 and status = 'pending'", [clientId]);
    expect(rows).toHaveLength(1);
  });

  test('a private_key_jwt client takes new public keys, never a private key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'kunci-1' }] });
    const { clientId } = await approvedClient({ ...SERVICE, name: 'Layanan Kunci', auth_method: 'private_key_jwt', jwks: publicJwks });
    const page = await get(developer, `/developer/layanan/${clientId}`);
    expect(page.html).toContain('Ganti kunci publik (JWKS)');
    expect(page.html).not.toContain('Ganti rahasia klien');

    const privateJwks = JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'kunci-2' }] });
    for (const jwks of [privateJwks, 'bukan json', '{"keys": []}', JSON.stringify({ keys: [{ kty: 'oct', k: 'abc' }] })]) {
      const refused = await post(developer, `/developer/layanan/${clientId}/jwks`, { jwks });
      expect(refused.status).toBe(400);
      expect(inlineError(refused.html, 'jwks')).toMatch(/kunci publik/);
    }
    const next = await generateKeyPair('ES256');
    const saved = await post(developer, `/developer/layanan/${clientId}/jwks`, { jwks: JSON.stringify({ keys: [{ ...(await exportJWK(next.publicKey)), kid: 'kunci-3' }] }) });
    expect(saved.status).toBe(303);
    expect((await get(developer, saved.location!)).html).toContain('JWKS baru sudah disimpan');
    expect((await server.instance.clientRequests.liveRegistration(clientId))!.jwks!.keys[0]!.kid).toBe('kunci-3');

    // A client that uses a secret has no JWKS to replace.
    const { clientId: secretClient } = await approvedClient({ ...SERVICE, name: 'Layanan Rahasia' });
    const wrongKind = await post(developer, `/developer/layanan/${secretClient}/jwks`, { jwks: publicJwks });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.html).toContain('tidak memakai private_key_jwt');
  });

  test('ids that are not the developer\'s are 404', async () => {
    for (const path of ['/developer/layanan/tidak-ada', `/developer/layanan/${'x'.repeat(300)}/ubah`]) {
      expect((await get(developer, path)).status).toBe(404);
    }
  });
});

describe('one validator for every way a client is made', () => {
  const escaped = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const PRIVATE_JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'rahasia' }] });
  const CALLBACK_URI = 'https://pajak.kedirikota.go.id/callback';
  /** A bad registration as the portal posts it and as the operator types it, and the rule both must apply. */
  const cases: Array<{ portal: Record<string, string>; cli: string[]; field: string; code: string; words: RegExp }> = [
    {
      portal: { redirect_uris: 'http://pajak.kedirikota.go.id/callback' },
      cli: ['--redirect-uri', 'http://pajak.kedirikota.go.id/callback'],
      field: 'redirect_uris', code: 'uri_not_https', words: /^kediri-id: --redirect-uri: must be https/,
    },
    {
      portal: { auth_method: 'private_key_jwt', jwks: PRIVATE_JWKS },
      cli: ['--redirect-uri', CALLBACK_URI, '--auth-method', 'private_key_jwt', '--jwks', PRIVATE_JWKS],
      field: 'jwks', code: 'jwks_invalid', words: /^kediri-id: --jwks: must be a JWKS of 1 to 10 public keys/,
    },
    {
      portal: { policy_uri: 'https://*.kedirikota.go.id/privasi' },
      cli: ['--redirect-uri', CALLBACK_URI, '--policy-uri', 'https://*.kedirikota.go.id/privasi'],
      field: 'policy_uri', code: 'uri_invalid', words: /^kediri-id: --policy-uri: not an absolute URL/,
    },
  ];

  test.each(cases)('the portal and the CLI refuse $code on $field by the same rule', async ({ portal, cli, field, code, words }) => {
    const posted = await post(developer, '/developer/permintaan/baru', { ...WEB, ...portal });
    expect(posted.status).toBe(400);
    expect(inlineError(posted.html, field)).toContain(escaped(translator('id')(`developer.error.${code}`)));

    const count = async () => (await server.instance.db.query<{ n: number }>('select count(*)::int as n from clients')).rows[0]!.n;
    const before = await count();
    const run = await runOperatorCommand(server.instance, ['client', 'create', '--unit', 'bppkad', '--name', 'Layanan Pajak Daerah', ...cli], '');
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(words);
    // The CLI's refusal is the registration check's own problem: the same code on the same form field.
    await expect(server.instance.clients.createActive({
      unit: 'bppkad', name: 'Layanan Pajak Daerah', redirectUris: [CALLBACK_URI], postLogoutRedirectUris: [], scope: 'openid',
      authMethod: 'client_secret_basic', grantTypes: ['authorization_code'],
      ...(field === 'redirect_uris' && { redirectUris: [portal.redirect_uris!] }),
      ...(field === 'jwks' && { authMethod: 'private_key_jwt' as const, jwks: PRIVATE_JWKS }),
      ...(field === 'policy_uri' && { policyUri: portal.policy_uri }),
    }, 'test')).rejects.toMatchObject({ code, field });
    expect(await count()).toBe(before);
  });

  test('what only an administrator may do is refused to a developer, and allowed to the CLI', async () => {
    const posted = await post(developer, '/developer/permintaan/baru', { ...WEB, client_credentials: 'on' });
    expect(posted.status).toBe(400);
    expect(inlineError(posted.html, 'client_credentials') ?? posted.html).toContain(escaped(translator('id')('developer.error.client_credentials_invalid')));
    const run = await runOperatorCommand(server.instance, ['client', 'create', '--unit', 'bppkad', '--name', 'Layanan Pajak Daerah',
      '--redirect-uri', CALLBACK_URI, '--auth-method', 'client_secret_post', '--grant-type', 'authorization_code', '--grant-type', 'client_credentials'], '');
    expect(run.stderr).toBe('');
    const { client_id: clientId } = JSON.parse(run.stdout) as { client_id: string };
    const client = await server.instance.clients.find(server.instance.db, clientId);
    expect(client!.metadata).toMatchObject({ token_endpoint_auth_method: 'client_secret_post', grant_types: ['authorization_code', 'client_credentials'], scope: 'openid' });
    expect(client!.metadata).not.toHaveProperty('policy_uri');
    // Its unit's developer can renew its secret, as for any client with a secret.
    const page = await get(developer, `/developer/layanan/${clientId}`);
    expect(page.html).toContain(`action="/developer/layanan/${clientId}/rahasia"`);
  });
});

describe('a recent login for what sets where a service sends citizens, and how it proves itself', () => {
  test('sixteen minutes after the login, redirect URIs, keys and secrets are refused (sent through the login again), audited, and nothing changes; the portal still opens', async () => {
    const { requestId, clientId } = await approvedClient({ ...WEB, name: 'Layanan Retribusi' });
    const live = await server.instance.clientRequests.liveRegistration(clientId);
    const requestsBefore = await requestCount();
    const auditedBefore = await server.instance.db.query("select 1 from audit_events where type like 'client%' and client_id = $1", [clientId]);
    const changes: [string, Record<string, string | string[]>][] = [
      [`/developer/layanan/${clientId}/ubah`, { ...WEB, name: 'Layanan Retribusi', redirect_uris: 'https://penyerang.example.com/callback' }],
      ['/developer/permintaan/baru', { ...WEB, redirect_uris: 'https://penyerang.example.com/callback' }],
      [`/developer/layanan/${clientId}/rahasia`, { confirm: 'ya' }],
      [`/developer/layanan/${clientId}/jwks`, { jwks: '{"keys": []}' }],
      [`/developer/permintaan/${requestId}/rahasia`, {}],
    ];
    developer.csrf ??= csrfTokenOf((await get(developer, '/developer/permintaan/baru')).html);
    const { jest } = await import('@jest/globals');
    // Only the clock moves: timers and the database run as ever.
    jest.useFakeTimers({ now: Date.now() + 16 * 60 * 1000, doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    try {
      expect((await get(developer, '/developer')).status).toBe(200);
      expect((await get(developer, `/developer/layanan/${clientId}`)).status).toBe(200);
      for (const [path, fields] of changes) {
        const res = await post(developer, path, fields);
        expect({ path, status: res.status, location: res.location }).toEqual({ path, status: 303, location: '/masuk?ulang=1&lanjut=%2Fdeveloper' });
      }
      // A forged CSRF token on top changes nothing either.
      expect((await post(developer, `/developer/layanan/${clientId}/ubah`, { ...WEB, _csrf: 'forged' })).status).toBe(303);
    } finally {
      jest.useRealTimers();
    }
    expect(await requestCount()).toBe(requestsBefore);
    expect(await server.instance.clientRequests.liveRegistration(clientId)).toEqual(live);
    expect((await server.instance.clientRequests.client(clientId))!.secretWaiting).toBe(true);
    const audited = await server.instance.db.query("select 1 from audit_events where type like 'client%' and client_id = $1", [clientId]);
    expect(audited.rowCount).toBe(auditedBefore.rowCount);
    const refusals = await server.instance.db.query<{ details: { method: string; path: string } }>(
      "select details from audit_events where type = 'portal.recent_login_required' and citizen_id = $1 order by id", [developerId],
    );
    expect(refusals.rows.map((r) => r.details)).toEqual([...changes.map(([path]) => ({ method: 'POST', path })), { method: 'POST', path: `/developer/layanan/${clientId}/ubah` }]);
  });

  test('the routes that change redirect URIs, keys or secrets have recentLogin; the catalogue text does not', () => {
    const recentLogin: Middleware = (_ctx, next) => next();
    const router = developerRouter(server.instance as unknown as AppDeps, (_ctx, next) => next(), recentLogin);
    const posts = router.stack.filter((layer) => layer.methods.includes('POST'));
    const guarded = Object.fromEntries(posts.map((layer) => [layer.path, layer.stack.includes(recentLogin)]));
    expect(guarded).toEqual({
      '/developer/permintaan/baru': true,
      '/developer/permintaan/:id/rahasia': true,
      '/developer/layanan/:clientId/ubah': true,
      '/developer/layanan/:clientId/rahasia': true,
      '/developer/layanan/:clientId/jwks': true,
      '/developer/katalog/:clientId': false,
    });
  });
});
