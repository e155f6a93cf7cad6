/**
 * The review workflow in the admin console: the queue, the side-by-side comparison of a change,
 * approval with an explicit tick per sensitive scope (a client never receives a scope it was not
 * approved for), rejection with a reason, suspension and reactivation, and the emails each
 * decision sends to the developer who asked. Also the units and staff pages.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, grantStaff } from '../support/fixtures.js';
import { lastEmailTo } from '../support/mail.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import type { ClientRegistration } from '../../src/clients/registration.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };

const REGISTRATION: ClientRegistration = {
  name: 'Pajak Daerah Online',
  type: 'web',
  redirectUris: [CALLBACK],
  postLogoutRedirectUris: [],
  scopes: ['profile', 'email', 'address', 'nik'],
  scopeReasons: {
    nik: 'Pajak bumi dan bangunan dicatat per NIK wajib pajak.',
    address: 'Alamat objek pajak dicocokkan dengan alamat wajib pajak.',
  },
  authMethod: 'client_secret_basic',
  policyUri: 'https://pajak.kedirikota.go.id/privasi',
  contact: 'budi@bppkad.example.id',
};

let server: TestServer;
let devId: string;
let admin: Agent;
let _csrf: string;

beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, ADMIN);
  devId = (await createCitizen(server.instance, DEV)).id;
  const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
  await server.instance.staff.grant(DEV.email, 'developer', 'test', 'bppkad');
  admin = new Agent(server.url);
  const landed = await signIn(admin, (await admin.request('/admin')).headers.get('location')!, ADMIN.email, ADMIN.password, { totp });
  const { res } = await admin.follow(landed);
  expect(res!.status).toBe(200);
  _csrf = csrfTokenOf(await (await admin.request('/admin/staf')).text());
});
afterAll(() => server.close());

const submit = (registration: ClientRegistration, clientId?: string) =>
  server.instance.clientRequests.submit({ unit: 'bppkad', registration, submittedBy: devId, ...(clientId && { clientId }) });

describe('reviewing requests', () => {
  let clientId: string;
  let secret: string;

  test('the queue lists a pending request; its page shows the requested details and a tick for each sensitive scope, unticked', async () => {
    const id = await submit(REGISTRATION);
    const queue = await (await admin.request('/admin/permintaan')).text();
    expect(queue).toContain(`href="/admin/permintaan/${id}"`);
    const page = await (await admin.request(`/admin/permintaan/${id}`)).text();
    expect(page).toContain('Pajak bumi dan bangunan dicatat per NIK wajib pajak.');
    expect(page).toContain('<input class="checkbox__input" id="allow-nik" name="allow" type="checkbox" value="nik">');
    expect(page).toContain('<input class="checkbox__input" id="allow-address" name="allow" type="checkbox" value="address">');
  });

  test('rejection needs a reason; the developer is emailed the decision with it', async () => {
    const id = (await server.instance.clientRequests.queue())[0]!.id;
    const noReason = await admin.post(`/admin/permintaan/${id}/tolak`, { _csrf, reason: ' ' });
    expect(noReason.status).toBe(400);
    expect(await noReason.text()).toContain('Tulis alasan penolakan');
    expect((await server.instance.clientRequests.get(id))!.status).toBe('pending');

    expect((await admin.post(`/admin/permintaan/${id}/tolak`, { _csrf, reason: 'Redirect URI harus domain kedirikota.go.id.' })).status).toBe(303);
    expect(await server.instance.clientRequests.get(id)).toMatchObject({ status: 'rejected', reason: 'Redirect URI harus domain kedirikota.go.id.' });
    const mail = await lastEmailTo(server.instance.db, DEV.email);
    expect(mail.subject).toContain('ditolak');
    expect(mail.body).toContain('Redirect URI harus domain kedirikota.go.id.');
    // Decided: it cannot be decided again.
    expect((await admin.post(`/admin/permintaan/${id}/setujui`, { _csrf })).status).toBe(400);
  });

  test('approval with only address ticked: the client gets address but never nik (invalid_scope), and a secret shown once', async () => {
    const id = await submit(REGISTRATION);
    const approved = await admin.post(`/admin/permintaan/${id}/setujui`, { _csrf, allow: 'address' });
    expect(approved.status).toBe(303);
    clientId = (await server.instance.clientRequests.get(id))!.clientId!;
    expect(approved.headers.get('location')).toBe(`/admin/layanan?disetujui=${encodeURIComponent(clientId)}`);
    expect((await lastEmailTo(server.instance.db, DEV.email)).subject).toContain('disetujui');

    secret = (await server.instance.clientRequests.revealSecret(clientId, devId, '127.0.0.1'))!;
    expect(secret).toMatch(/^[\w-]{40,}$/);
    expect(await server.instance.clientRequests.revealSecret(clientId, devId, '127.0.0.1')).toBeUndefined();

    const rp = await relyingParty(server.url, clientId, secret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid address email', prompt: 'consent' });
    expect(tokens.scope?.split(' ').sort()).toEqual(['address', 'email', 'openid']);
    const refused = await new Agent(server.url).follow((await authorizationRequest(rp, { scope: 'openid nik' })).url);
    const error = new URL(refused.url);
    expect(`${error.origin}${error.pathname}`).toBe(CALLBACK);
    expect(error.searchParams.get('error')).toBe('invalid_scope');
  });

  test('a change request is shown side by side with the live client, the changed fields marked', async () => {
    const id = await submit({ ...REGISTRATION, redirectUris: [CALLBACK, 'https://pajak.kedirikota.go.id/callback'] }, clientId);
    const page = await (await admin.request(`/admin/permintaan/${id}`)).text();
    expect(page).toContain('Perubahan dibandingkan layanan yang berjalan');
    const changedRows = [...page.matchAll(/<tr class="table__row--changed">\s*<th scope="row">([^<]+)</g)].map((m) => m[1]!.trim());
    // The live client holds address only (nik was not ticked): asking again for nik is a change too.
    expect(changedRows).toEqual(['Redirect URI', 'Scope']);
    // One open request per client.
    await expect(submit(REGISTRATION, clientId)).rejects.toMatchObject({ code: 'request_already_open' });
    const both = new URLSearchParams([['_csrf', _csrf], ['allow', 'address'], ['allow', 'nik']]);
    const approved = await admin.request(`/admin/permintaan/${id}/setujui`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: both.toString() });
    expect(approved.status).toBe(303);
    const rp = await relyingParty(server.url, clientId, secret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid nik', prompt: 'consent' });
    const sub = tokens.claims()!.sub;
    expect(await oidc.fetchUserInfo(rp, tokens.access_token, sub)).toMatchObject({ nik: SITI.nik });
  });

  test('suspending a client stops it on its next request (invalid_client); reactivating brings it back; both are emailed', async () => {
    const rp = await relyingParty(server.url, clientId, secret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid' });
    expect(tokens.access_token).toBeTruthy();

    expect((await admin.post(`/admin/layanan/${clientId}/status`, { _csrf, status: 'suspended' })).status).toBe(303);
    expect((await lastEmailTo(server.instance.db, DEV.email)).subject).toContain('dihentikan sementara');
    // The authorization endpoint no longer knows it (and sends nobody back to its redirect URI): the
    // citizen reads that the service cannot be used through Kediri ID now and whom to ask, not
    // "invalid data, try again"; the OAuth error is only the technical detail line...
    const refused = await new Agent(server.url).request((await authorizationRequest(rp)).url);
    expect(refused.status).toBe(400);
    const page = await refused.text();
    expect(page).toContain('<h1 class="heading-l">Layanan ini sedang tidak tersedia</h1>');
    expect(page).toContain('<p class="lead">Pajak Daerah Online dari BPPKAD sedang tidak dapat dipakai lewat Kediri ID. Ini bukan masalah pada akun Anda, dan mencoba lagi tidak akan membantu. Hubungi BPPKAD untuk keterangan lebih lanjut.</p>');
    expect(page).toContain('<code>invalid_client: client is invalid</code>');
    expect(page).not.toContain('datanya tidak sah');
    // A client_id no one registered says the service is not registered; one that could be none is a 400 too, never a 500.
    const asking = async (clientIdAsked: string) => {
      const url = new URL((await authorizationRequest(rp)).url);
      url.searchParams.set('client_id', clientIdAsked);
      return new Agent(server.url).request(url.toString());
    };
    const unknown = await asking('tidak-ada');
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('Layanan yang membawa Anda ke sini tidak terdaftar di Kediri ID');
    for (const odd of ['nul\u0000', 'x'.repeat(600)]) expect((await asking(odd)).status).toBe(400);
    // ... nor does the token endpoint.
    const token = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    expect(token.status).toBe(401);
    expect(await token.json()).toMatchObject({ error: 'invalid_client' });

    expect((await admin.post(`/admin/layanan/${clientId}/status`, { _csrf, status: 'active' })).status).toBe(303);
    expect((await lastEmailTo(server.instance.db, DEV.email)).subject).toContain('diaktifkan kembali');
    expect((await signInAndExchange(rp, SITI.email, SITI.password)).access_token).toBeTruthy();
    // Not twice the same way.
    expect((await admin.post(`/admin/layanan/${clientId}/status`, { _csrf, status: 'active' })).status).toBe(400);
  });
});

describe('units and staff', () => {
  test('an admin adds a unit and renames it; a bad slug or a taken one is a 400 that changes nothing', async () => {
    expect((await admin.post('/admin/unit', { _csrf, slug: 'dinkes', name: 'Dinas Kesehatan' })).status).toBe(303);
    expect((await admin.post('/admin/unit', { _csrf, slug: 'dinkes', name: 'Lagi' })).status).toBe(400);
    expect((await admin.post('/admin/unit', { _csrf, slug: 'Bad Slug!', name: 'X Y' })).status).toBe(400);
    expect((await admin.post('/admin/unit/dinkes', { _csrf, name: 'Dinas Kesehatan Kota Kediri' })).status).toBe(303);
    expect((await server.instance.units.list()).find((u) => u.slug === 'dinkes')).toMatchObject({ name: 'Dinas Kesehatan Kota Kediri' });
    const audited = await server.instance.db.query("select details from audit_events where type = 'unit.updated' order by id desc limit 1");
    expect(audited.rows[0]).toMatchObject({ details: { before: { name: 'Dinas Kesehatan' }, after: { name: 'Dinas Kesehatan Kota Kediri' } } });
  });

  test('a unit logo: a PNG is stored and served from our origin; a file that only claims to be an image is refused', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d6c6a40000000049454e44ae426082', 'hex');
    const upload = (bytes: Buffer, type: string) => {
      const form = new FormData();
      form.append('_csrf', _csrf);
      form.append('logo', new Blob([new Uint8Array(bytes)], { type }), 'logo.png');
      return admin.request('/admin/unit/dinkes/logo', { method: 'POST', body: form });
    };
    expect((await upload(Buffer.from('<svg onload="alert(1)"/>'), 'image/png')).status).toBe(400);
    expect((await upload(png, 'image/png')).status).toBe(303);
    const served = await fetch(`${server.url}/unit/dinkes/logo`);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);
  });

  test('an admin invites a developer to a unit; the invited account accepts after signing in and is sent to set up a second factor before the portal', async () => {
    const NEW_DEV = { nik: '3571015503920004', name: 'Rina Pengembang', birthdate: '1992-03-15', email: 'rina@dinkes.example.id', password: 'kebun-teh-wilis-pagi' };
    await createCitizen(server.instance, NEW_DEV);
    expect((await admin.post('/admin/staf/undang', { _csrf, email: NEW_DEV.email, role: 'developer', unit: 'dinkes' })).status).toBe(303);
    const { link } = await lastEmailTo(server.instance.db, NEW_DEV.email);
    expect(link).toMatch(/\/undangan\?token=/);

    // Signed out, the link shows who invites to what, and a sign-in that comes back to it.
    const signedOut = new Agent(server.url);
    const offer = await signedOut.follow(link!);
    expect(new URL(offer.url).pathname).toBe('/undangan/terima');
    const offerPage = await offer.res!.text();
    expect(offerPage).toContain('Dewi Admin (admin) mengundang Anda menjadi Pengembang unit di Dinas Kesehatan');
    expect(offerPage).toContain('href="/masuk?lanjut=%2Fundangan%2Fterima"');
    expect(offerPage).not.toContain('action="/undangan/terima"');
    const viaSignIn = async (agent: Agent) => {
      await agent.follow(link!);
      return (await agent.follow('/masuk?lanjut=%2Fundangan%2Fterima')).url;
    };

    // Someone else's account cannot use the link.
    const other = new Agent(server.url);
    const otherLanded = await signIn(other, await viaSignIn(other), SITI.email, SITI.password);
    const otherPage = await other.follow(otherLanded);
    expect(otherPage.res!.status).toBe(400);

    const browser = new Agent(server.url);
    const landed = await signIn(browser, await viaSignIn(browser), NEW_DEV.email, NEW_DEV.password);
    const page = await browser.follow(landed);
    expect(new URL(page.url).pathname).toBe('/undangan/terima');
    const acceptCsrf = csrfTokenOf(await page.res!.text());
    const accepted = await browser.post('/undangan/terima', { _csrf: acceptCsrf });
    expect(accepted.status).toBe(303);
    expect(accepted.headers.get('location')).toBe('/developer');
    const portal = await browser.request('/developer');
    expect(portal.status).toBe(403);
    expect(await portal.text()).toContain('<a class="button" href="/akun/dua-langkah">Atur verifikasi dua langkah sekarang</a>');
    const id = (await server.instance.citizens.findByEmail(NEW_DEV.email))!.id;
    expect(await server.instance.staff.unitsOf(id)).toEqual(['dinkes']);
    // Used once.
    expect((await browser.post('/undangan/terima', { _csrf: acceptCsrf })).status).toBe(400);
  });

  test('a new invitation replaces the one before; a pending one can be cancelled; neither old link works', async () => {
    const email = 'calon@dinkes.example.id';
    const invite = () => admin.post('/admin/staf/undang', { _csrf, email, role: 'developer', unit: 'dinkes' });
    expect((await invite()).status).toBe(303);
    const first = (await lastEmailTo(server.instance.db, email)).link!;
    expect((await invite()).status).toBe(303);
    const second = (await lastEmailTo(server.instance.db, email)).link!;
    const live = async () => (await server.instance.staff.pendingInvitations()).filter((i) => i.email === email);
    expect(await live()).toHaveLength(1);
    expect(await server.instance.db.query('select 1 from staff_invitations where email = $1 and expires_at > now()', [email])).toMatchObject({ rowCount: 1 });
    expect(first).not.toBe(second);
    const page = await (await admin.request('/admin/staf')).text();
    expect(page).toContain(`Batalkan undangan untuk ${email}`);
    expect((await admin.post(`/admin/staf/undangan/${(await live())[0]!.id}/batal`, { _csrf })).status).toBe(303);
    expect(await live()).toHaveLength(0);
    expect((await admin.post('/admin/staf/undangan/bukan-id/batal', { _csrf })).status).toBe(400);
    // Neither link's invitation is live any more.
    for (const link of [first, second]) {
      const hash = server.instance.sealer.keyedHash('staff-invitation', new URL(link).searchParams.get('token')!);
      expect(await server.instance.db.query('select 1 from staff_invitations where token_hash = $1 and expires_at > now()', [hash])).toMatchObject({ rowCount: 0 });
    }
  });

  test('an admin cannot revoke their own admin role; revoking a developer role takes the units with it', async () => {
    const adminId = (await server.instance.citizens.findByEmail(ADMIN.email))!.id;
    expect((await admin.post(`/admin/staf/${adminId}/cabut`, { _csrf, role: 'admin' })).status).toBe(400);
    expect((await admin.post(`/admin/staf/${devId}/cabut`, { _csrf, role: 'developer' })).status).toBe(303);
    expect(await server.instance.staff.unitsOf(devId)).toEqual([]);
    expect(await server.instance.staff.rolesOf(devId)).toEqual([]);
    expect((await admin.post('/admin/staf/bukan-uuid/cabut', { _csrf, role: 'developer' })).status).toBe(400);
  });
});

describe('signing keys', () => {
  test('an admin starts a key rotation from the console: the JWKS publishes the new keys at once; a second rotation waits (409)', async () => {
    const before = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
    const page = await (await admin.request('/admin/kunci')).text();
    expect(page).toContain('Aktif (menandatangani)');
    expect((await admin.post('/admin/kunci/rotasi', { _csrf })).status).toBe(303);
    const after = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(after.keys).toHaveLength(before.keys.length * 2);
    expect(after.keys.map((k) => k.kid)).toEqual(expect.arrayContaining(before.keys.map((k) => k.kid)));
    expect(await (await admin.request('/admin/kunci')).text()).toContain('Berikutnya (diterbitkan, belum menandatangani)');
    const again = await admin.post('/admin/kunci/rotasi', { _csrf });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('Rotasi sebelumnya masih berjalan');
    const audited = await server.instance.db.query("select actor from audit_events where type = 'keys.rotated'");
    expect(audited.rows).toEqual([{ actor: (await server.instance.citizens.findByEmail(ADMIN.email))!.id }]);
  });
});

describe('client settings', () => {
  test('an admin marks a client public, high assurance or enabled for CIBA; high assurance needs private_key_jwt, CIBA a public subject or private_key_jwt; audited with before and after', async () => {
    const [client] = await server.instance.clientRequests.clients(['bppkad']);
    const page = await (await admin.request(`/admin/layanan/${client!.clientId}`)).text();
    expect(page).toContain('<input class="checkbox__input" id="subject-pairwise" name="subject_type" type="radio" value="pairwise" checked>');
    const refused = await admin.post(`/admin/layanan/${client!.clientId}/pengaturan`, { _csrf, subject_type: 'pairwise', high_assurance: 'ya' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Tingkat jaminan tinggi hanya untuk layanan yang memakai private_key_jwt.');
    const noCiba = await admin.post(`/admin/layanan/${client!.clientId}/pengaturan`, { _csrf, subject_type: 'pairwise', ciba: 'ya' });
    expect(noCiba.status).toBe(400);
    expect(await noCiba.text()).toContain('Konfirmasi di loket hanya untuk layanan yang mengautentikasi diri');
    const saved = await admin.post(`/admin/layanan/${client!.clientId}/pengaturan`, { _csrf, subject_type: 'public', ciba: 'ya' });
    expect(saved.status).toBe(303);
    expect(await server.instance.clientRequests.profile(client!.clientId)).toEqual({
      subjectType: 'public', highAssurance: false, privateKeyJwt: false, ciba: true, confidential: true, jwksUri: false, kiosk: false,
    });
    expect(await (await admin.request(`/admin/layanan/${client!.clientId}`)).text()).toContain('id="ciba" name="ciba" type="checkbox" value="ya" aria-describedby="ciba-hint" checked>');
    const audited = await server.instance.db.query("select details from audit_events where type = 'client.profile_changed'");
    expect(audited.rows).toEqual([{ details: {
      before: { subjectType: 'pairwise', highAssurance: false, ciba: false, kiosk: false },
      after: { subjectType: 'public', highAssurance: false, ciba: true, kiosk: false },
    } }]);
    expect((await admin.post(`/admin/layanan/${client!.clientId}/pengaturan`, { _csrf, subject_type: 'other' })).status).toBe(400);
    expect((await admin.request('/admin/layanan/tidak-ada')).status).toBe(400);
  });
});

describe('a recent login for what reveals or grants the most', () => {
  test('sixteen minutes after the login, inviting staff sends the admin through the login again; the console itself still opens', async () => {
    const { jest } = await import('@jest/globals');
    // Only the clock moves: timers and the database run as ever.
    jest.useFakeTimers({ now: Date.now() + 16 * 60 * 1000, doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    try {
      expect((await admin.request('/admin/staf')).status).toBe(200);
      const invite = await admin.post('/admin/staf/undang', { _csrf, email: 'baru@kedirikota.go.id', role: 'officer', unit: '' });
      expect(invite.status).toBe(303);
      expect(invite.headers.get('location')).toBe('/masuk?ulang=1&lanjut=%2Fadmin');
      const rotate = await admin.post('/admin/kunci/rotasi', { _csrf });
      expect(rotate.headers.get('location')).toBe('/masuk?ulang=1&lanjut=%2Fadmin');
    } finally {
      jest.useRealTimers();
    }
    expect(await server.instance.db.query("select 1 from staff_invitations where email = 'baru@kedirikota.go.id'")).toMatchObject({ rowCount: 0 });
  });
});
