/**
 * The national identity providers in the admin console (/admin/masuk-nasional): added with each
 * way of authenticating to them, refused with every problem named (and nothing stored), changed
 * keeping or replacing the client secret, which no page shows again; enabled and disabled; a
 * logo; CSRF, the role guard, a recent login and the audit. An upstream set by UPSTREAM_* is
 * listed and shown but not changed.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Middleware } from 'koa';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { createCitizen, grantStaff, SITI } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { adminRouter } from '../../src/web/admin/router.js';
import type { AppDeps } from '../../src/web/app.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const OFFICER = { nik: '3571024703920001', name: 'Rina Petugas', birthdate: '1992-03-07', email: 'rina@mpp.kedirikota.go.id', password: 'loket-mal-pelayanan-publik' };

/** Client secrets given to the console or the environment: no page, audit entry or log line may show them. */
const SECRETS = ['rahasia-ikd-pertama-0001', 'rahasia-ikd-kedua-0002', 'rahasia-post-0003', 'rahasia-ditolak-0004', 'rahasia-dari-lingkungan-0005'];

/** A whole form of the console, INApas-like unless told otherwise. */
const upstreamForm = (fields: Record<string, string> = {}) => ({
  slug: 'inapas',
  label: 'INApas',
  issuer: 'https://inapas.example.go.id',
  clientId: 'kediri-id',
  authMethod: 'private_key_jwt',
  clientSecret: '',
  scopes: 'openid profile email phone nik',
  nikClaim: 'nik',
  claim_name: 'nama_lengkap',
  claim_birthdate: 'tanggal_lahir',
  claim_email: 'email',
  claim_phone: 'phone_number',
  verifiedAcr: 'urn:inapas:loa:2, urn:inapas:loa:3',
  mfaAcr: 'urn:inapas:loa:3',
  ...fields,
});

/** A browser signed in (a fresh login, with the TOTP app when given) to an area, with the CSRF token of its landing page. */
async function signedIn(server: TestServer, who: { email: string; password: string }, area: string, totp?: string) {
  const agent = new Agent(server.url);
  const start = await agent.request(area);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { ...(totp && { totp }) });
  const { res } = await agent.follow(landed);
  return { agent, status: res!.status, csrf: csrfTokenOf(await res!.text()) };
}

const page = async (agent: Agent, path: string) => {
  const res = await agent.request(path);
  return { status: res.status, html: await res.text() };
};

const auditOf = async (server: TestServer) =>
  (await server.instance.db.query<{ type: string; actor: string | null; ip: string | null; details: Record<string, unknown> }>(
    "select type, actor, ip, details from audit_events where type like 'upstream.%' order by id",
  )).rows;

/** What the table holds, to see that a refused request changed nothing. */
const stored = async (server: TestServer) =>
  (await server.instance.db.query("select slug, label, issuer, client_id, auth_method, client_secret_enc, enabled, source, logo is not null as logo, updated_at from upstream_providers order by slug")).rows;

describe('upstreams in the admin console', () => {
  let server: TestServer;
  let admin: Agent;
  let adminId: string;
  let _csrf: string;
  let devTotp: string;

  beforeAll(async () => {
    server = await startTestServer();
    const { instance } = server;
    await createCitizen(instance);
    for (const person of [ADMIN, DEV, OFFICER]) await createCitizen(instance, person);
    const granted = await grantStaff(instance, ADMIN.email, 'admin');
    adminId = granted.id;
    devTotp = (await grantStaff(instance, DEV.email, 'developer', 'bppkad')).totp;
    ({ agent: admin, csrf: _csrf } = await signedIn(server, ADMIN, '/admin/masuk-nasional', granted.totp));
  });
  afterAll(() => server?.close());

  test('an upstream is added with each way of authenticating; it starts disabled, with our EC key for private_key_jwt', async () => {
    const created = await admin.post('/admin/masuk-nasional', { _csrf, ...upstreamForm() });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/admin/masuk-nasional/inapas?dibuat=1');
    expect((await admin.post('/admin/masuk-nasional', { _csrf, ...upstreamForm({ slug: 'ikd', label: 'IKD', issuer: 'https://ikd.example.go.id/', authMethod: 'client_secret_basic', clientSecret: SECRETS[0]! }) })).status).toBe(303);
    expect((await admin.post('/admin/masuk-nasional', { _csrf, ...upstreamForm({ slug: 'Uji-Post', label: 'Uji Post', issuer: 'http://127.0.0.1:9/op', authMethod: 'client_secret_post', clientSecret: SECRETS[2]!, scopes: ' openid\tprofile   nik ', verifiedAcr: '', mfaAcr: '' }) })).status).toBe(303);

    const { upstreams } = server.instance;
    const inapas = (await upstreams.find('inapas'))!;
    expect(inapas).toMatchObject({
      label: 'INApas', issuer: 'https://inapas.example.go.id', clientId: 'kediri-id', authMethod: 'private_key_jwt', enabled: false, source: 'admin',
      claimMap: { name: 'nama_lengkap', birthdate: 'tanggal_lahir', email: 'email', phone: 'phone_number' },
      verifiedAcr: ['urn:inapas:loa:2', 'urn:inapas:loa:3'], mfaAcr: ['urn:inapas:loa:3'],
    });
    expect(inapas.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(inapas.publicJwk).not.toHaveProperty('d');
    const key = await upstreams.credentials('inapas');
    expect(key).toMatchObject({ method: 'private_key_jwt', privateJwk: { kty: 'EC', crv: 'P-256', kid: inapas.publicJwk.kid } });
    expect(key!.method === 'private_key_jwt' && key!.privateJwk.d).toBeTruthy();
    expect(await upstreams.credentials('ikd')).toEqual({ method: 'client_secret_basic', secret: SECRETS[0] });
    // The slug is taken in lower case; the issuer is kept as written (discovery compares it exactly).
    expect(await upstreams.credentials('uji-post')).toEqual({ method: 'client_secret_post', secret: SECRETS[2] });
    expect((await upstreams.find('ikd'))!.issuer).toBe('https://ikd.example.go.id/');
    expect(await upstreams.find('uji-post')).toMatchObject({ scopes: 'openid profile nik', verifiedAcr: [], mfaAcr: [] });

    const list = await page(admin, '/admin/masuk-nasional');
    for (const text of ['href="/admin/masuk-nasional/inapas"', 'href="/admin/masuk-nasional/ikd"', 'https://inapas.example.go.id', 'Nonaktif', 'Konsol admin']) expect(list.html).toContain(text);

    // What the upstream needs to register Kediri ID: our addresses and our public key, never the private one.
    const shown = await page(admin, '/admin/masuk-nasional/inapas?dibuat=1');
    expect(shown.status).toBe(200);
    for (const path of ['kembali', 'keluar', 'jwks.json']) expect(shown.html).toContain(`${server.url}/masuk-dengan/inapas/${path}`);
    expect(shown.html).toContain('<pre class="pre">');
    expect(shown.html).toContain(`&quot;kid&quot;: &quot;${inapas.publicJwk.kid}&quot;`);
    expect(shown.html).toContain(`&quot;x&quot;: &quot;${inapas.publicJwk.x}&quot;`);
    expect(shown.html).not.toContain('&quot;d&quot;');
    expect(shown.html).toContain('Penyedia ditambahkan dan belum aktif.');
    // The secret field is a password field, empty, with its hint.
    expect((await page(admin, '/admin/masuk-nasional/ikd')).html).toMatch(/id="clientSecret" name="clientSecret" type="password" autocomplete="off"[^>]* value=""/);
    expect((await page(admin, '/admin/masuk-nasional/ikd')).html).toContain('Kosongkan untuk tetap memakai rahasia yang tersimpan.');
    expect((await page(admin, '/admin/masuk-nasional/ikd?lang=en')).html).toContain('Leave empty to keep the stored secret.');
    await page(admin, '/admin/masuk-nasional?lang=id');
  });

  test('bad settings are refused (400) with every problem in the error summary, linked to its field; nothing is stored', async () => {
    const before = await stored(server);
    const audited = (await auditOf(server)).length;
    for (const [fields, field, message] of [
      [{ slug: 'satu', issuer: 'http://inapas.example.go.id' }, 'issuer', 'Penerbit harus URL https'],
      [{ slug: 'dua', issuer: 'bukan sebuah url' }, 'issuer', 'Penerbit harus URL https'],
      [{ slug: 'tiga', issuer: 'https://inapas.example.go.id/?a=b' }, 'issuer', 'Penerbit harus URL https'],
      [{ slug: 'empat', authMethod: 'client_secret_basic', clientSecret: '' }, 'clientSecret', 'Tulis client secret dari penyedia'],
      [{ slug: 'lima', authMethod: 'client_secret_post', clientSecret: '' }, 'clientSecret', 'Tulis client secret dari penyedia'],
      [{ slug: 'Bad Slug!' }, 'slug', 'Kode hanya huruf kecil'],
      [{ slug: 'x' }, 'slug', 'Kode hanya huruf kecil'],
      [{ slug: 'inapas' }, 'slug', 'Kode itu sudah dipakai penyedia lain.'],
      [{ slug: 'IKD' }, 'slug', 'Kode itu sudah dipakai penyedia lain.'],
      [{ slug: 'enam', authMethod: 'password' }, 'authMethod', 'Pilih cara Kediri ID membuktikan dirinya'],
      [{ slug: 'tujuh', scopes: 'profile email' }, 'scopes', 'openid harus ada'],
      [{ slug: 'delapan', claim_birthdate: 'tanggal lahir' }, 'claim_birthdate', 'Nama claim tanggal lahir'],
      [{ slug: 'sembilan', label: 'X' }, 'label', 'Nama pada tombol harus 2 sampai 40 karakter.'],
    ] as const) {
      const res = await admin.post('/admin/masuk-nasional', { _csrf, ...upstreamForm(fields) });
      const html = await res.text();
      expect({ fields, status: res.status }).toEqual({ fields, status: 400 });
      expect(html).toContain(message);
      expect(html).toContain(`<a href="#${field}">`);
      expect(html).toContain(`id="${field}-error"`);
    }
    // Every problem at once, each linked; the secret typed is not given back.
    const many = await admin.post('/admin/masuk-nasional', {
      _csrf, ...upstreamForm({ slug: 'banyak', label: '', issuer: 'ftp://x', clientId: '', scopes: 'profile', clientSecret: SECRETS[3]!, verifiedAcr: 'a'.repeat(201) }),
    });
    const html = await many.text();
    expect(many.status).toBe(400);
    for (const field of ['label', 'issuer', 'clientId', 'scopes', 'verifiedAcr']) expect(html).toContain(`<a href="#${field}">`);
    expect(html).not.toContain(SECRETS[3]);
    expect(html).toContain('value="banyak"');
    // A form that is not a form at all.
    expect((await admin.post('/admin/masuk-nasional', { _csrf, slug: 'x\u0000' })).status).toBe(400);
    expect(await stored(server)).toEqual(before);
    expect(await auditOf(server)).toHaveLength(audited);
  });

  test('an edit keeps the secret when the field is left empty and replaces it when one is given; the secret is never shown', async () => {
    const edit = (fields: Record<string, string>) => admin.post('/admin/masuk-nasional/ikd', { _csrf, ...upstreamForm({ label: 'IKD', issuer: 'https://ikd.example.go.id', authMethod: 'client_secret_basic', ...fields }) });
    const saved = await edit({ label: 'Identitas Kependudukan Digital', clientSecret: '' });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe('/admin/masuk-nasional/ikd?disimpan=1');
    expect((await server.instance.upstreams.find('ikd'))!.label).toBe('Identitas Kependudukan Digital');
    expect(await server.instance.upstreams.credentials('ikd')).toEqual({ method: 'client_secret_basic', secret: SECRETS[0] });

    expect((await edit({ label: 'IKD', clientSecret: SECRETS[1]! })).status).toBe(303);
    expect(await server.instance.upstreams.credentials('ikd')).toEqual({ method: 'client_secret_basic', secret: SECRETS[1] });
    expect((await page(admin, '/admin/masuk-nasional/ikd?disimpan=1')).html).toContain('Perubahan disimpan.');

    // A bad edit (400) keeps everything as it was, and names the problem.
    const before = await stored(server);
    const bad = await edit({ issuer: 'http://ikd.example.go.id', clientSecret: SECRETS[3]! });
    expect(bad.status).toBe(400);
    const badHtml = await bad.text();
    expect(badHtml).toContain('Penerbit harus URL https');
    expect(badHtml).not.toContain(SECRETS[3]);
    expect(await stored(server)).toEqual(before);
    // The slug in the form does not move an upstream to another one's name.
    expect((await edit({ slug: 'inapas', label: 'IKD Baru' })).status).toBe(303);
    expect((await server.instance.upstreams.find('inapas'))!.label).toBe('INApas');
    expect((await server.instance.upstreams.find('ikd'))!.label).toBe('IKD Baru');
    // An upstream that does not exist is not made by an edit.
    expect((await admin.post('/admin/masuk-nasional/belum-ada', { _csrf, ...upstreamForm({ slug: 'belum-ada' }) })).status).toBe(400);
    expect(await server.instance.upstreams.find('belum-ada')).toBeUndefined();

    // Switching to private_key_jwt drops the secret.
    expect((await edit({ label: 'IKD', authMethod: 'private_key_jwt' })).status).toBe(303);
    expect(await server.instance.upstreams.credentials('ikd')).toMatchObject({ method: 'private_key_jwt' });

    // No page of the console (the audit log included) and no audit entry holds a secret.
    for (const path of ['/admin/masuk-nasional', '/admin/masuk-nasional/ikd', '/admin/masuk-nasional/uji-post', '/admin/masuk-nasional/inapas', '/admin/audit']) {
      const { status, html } = await page(admin, path);
      expect({ path, status }).toEqual({ path, status: 200 });
      for (const secret of SECRETS) expect({ path, has: html.includes(secret) }).toEqual({ path, has: false });
    }
    const everything = JSON.stringify(await server.instance.db.query('select * from audit_events'));
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });

  test('enabled and disabled; a logo (PNG or JPEG) is stored, anything else refused', async () => {
    expect((await admin.post('/admin/masuk-nasional/inapas/status', { _csrf, enabled: 'ya' })).status).toBe(303);
    expect((await server.instance.upstreams.find('inapas'))!.enabled).toBe(true);
    expect((await server.instance.upstreams.enabled()).map((u) => u.slug)).toEqual(['inapas']);
    const html = (await page(admin, '/admin/masuk-nasional/inapas')).html;
    expect(html).toContain('Nonaktifkan INApas');
    expect((await admin.post('/admin/masuk-nasional/inapas/status', { _csrf, enabled: 'mungkin' })).status).toBe(400);
    expect((await admin.post('/admin/masuk-nasional/inapas/status', { _csrf, enabled: 'tidak' })).status).toBe(303);
    expect((await server.instance.upstreams.find('inapas'))!.enabled).toBe(false);
    expect((await admin.post('/admin/masuk-nasional/inapas/status', { _csrf, enabled: 'ya' })).status).toBe(303);

    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d6c6a40000000049454e44ae426082', 'hex');
    const upload = (bytes: Buffer, token = _csrf) => {
      const form = new FormData();
      form.append('_csrf', token);
      form.append('logo', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'logo.png');
      return admin.request('/admin/masuk-nasional/inapas/logo', { method: 'POST', body: form });
    };
    const refused = await upload(Buffer.from('<svg onload="alert(1)"/>'));
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('<a href="#logo">');
    expect((await upload(png, 'forged')).status).toBe(403);
    expect(await server.instance.upstreams.logo('inapas')).toBeUndefined();
    expect((await upload(png)).status).toBe(303);
    expect(await server.instance.upstreams.logo('inapas')).toEqual({ bytes: png, type: 'image/png' });
    expect((await page(admin, '/admin/masuk-nasional/inapas')).html).toContain('src="/masuk-dengan/inapas/logo" alt="Logo INApas"');
  });

  test('without the CSRF token, or with a forged one, nothing changes (403)', async () => {
    const before = await stored(server);
    const audited = (await auditOf(server)).length;
    for (const token of [undefined, 'forged-token', `${_csrf}x`]) {
      const withToken = (fields: Record<string, string>) => (token === undefined ? fields : { _csrf: token, ...fields });
      expect((await admin.post('/admin/masuk-nasional', withToken(upstreamForm({ slug: 'palsu' })))).status).toBe(403);
      expect((await admin.post('/admin/masuk-nasional/inapas', withToken(upstreamForm({ label: 'Palsu' })))).status).toBe(403);
      expect((await admin.post('/admin/masuk-nasional/inapas/status', withToken({ enabled: 'tidak' }))).status).toBe(403);
    }
    // A token of another browser does not do either.
    const other = await signedIn(server, SITI, '/akun');
    expect((await admin.post('/admin/masuk-nasional/inapas', { _csrf: other.csrf, ...upstreamForm({ label: 'Palsu' }) })).status).toBe(403);
    expect(await stored(server)).toEqual(before);
    expect(await auditOf(server)).toHaveLength(audited);
  });

  test('a developer, a counter officer or a citizen gets no access (403) and changes nothing', async () => {
    const officerTotp = (await grantStaff(server.instance, OFFICER.email, 'officer')).totp;
    const before = await stored(server);
    for (const [who, area, totp] of [[DEV, '/developer/permintaan/baru', devTotp], [OFFICER, '/loket', officerTotp], [SITI, '/akun', undefined]] as const) {
      const { agent, status, csrf } = await signedIn(server, who, area, totp);
      expect(status).toBe(200);
      for (const path of ['/admin/masuk-nasional', '/admin/masuk-nasional/inapas']) {
        const res = await agent.request(path);
        expect({ who: who.email, path, status: res.status, refusedForRole: (await res.text()).includes('peran admin') }).toEqual({ who: who.email, path, status: 403, refusedForRole: true });
      }
      for (const [path, fields] of [
        ['/admin/masuk-nasional', upstreamForm({ slug: 'penyusup' })],
        ['/admin/masuk-nasional/inapas', upstreamForm({ label: 'Penyusup' })],
        ['/admin/masuk-nasional/inapas/status', { enabled: 'tidak' }],
      ] as const) {
        expect({ who: who.email, path, status: (await agent.post(path, { _csrf: csrf, ...fields })).status }).toEqual({ who: who.email, path, status: 403 });
      }
    }
    expect(await stored(server)).toEqual(before);
  });

  test('adding, changing and enabling an upstream need a recent login (the route has recentLogin); the logo does not', () => {
    const recentLogin: Middleware = (_ctx, next) => next();
    const router = adminRouter(server.instance as unknown as AppDeps, (_ctx, next) => next(), recentLogin);
    const guarded = (path: string) => router.stack.find((layer) => layer.path === path && layer.methods.includes('POST'))!.stack.includes(recentLogin);
    expect(['/admin/masuk-nasional', '/admin/masuk-nasional/:upstream', '/admin/masuk-nasional/:upstream/status'].map(guarded)).toEqual([true, true, true]);
    expect(guarded('/admin/masuk-nasional/:upstream/logo')).toBe(false);
  });

  test('every change is audited with its actor and address: before and after, never the secret', async () => {
    const entries = await auditOf(server);
    expect(entries.map((e) => e.type)).toEqual([
      'upstream.created', 'upstream.created', 'upstream.created', // inapas, ikd, uji-post
      'upstream.updated', 'upstream.updated', 'upstream.updated', 'upstream.updated', // ikd: label, secret, label, method
      'upstream.updated', 'upstream.updated', 'upstream.updated', // inapas enabled, disabled, enabled
      'upstream.updated', // inapas logo
    ]);
    for (const entry of entries) expect(entry).toMatchObject({ actor: adminId, ip: expect.stringMatching(/127\.0\.0\.1/) });
    expect(entries[0]!.details).toMatchObject({ upstream: 'inapas', after: { label: 'INApas', authMethod: 'private_key_jwt', enabled: false, source: 'admin' } });
    expect(entries[3]!.details).toMatchObject({ upstream: 'ikd', before: { label: 'IKD' }, after: { label: 'Identitas Kependudukan Digital' } });
    expect(entries[3]!.details).not.toHaveProperty('clientSecretChanged');
    expect(entries[4]!.details).toMatchObject({ upstream: 'ikd', clientSecretChanged: true });
    expect(entries[7]!.details).toEqual({ upstream: 'inapas', before: { enabled: false }, after: { enabled: true } });
  });
});

describe('an upstream set by UPSTREAM_* in the environment', () => {
  let server: TestServer;
  let admin: Agent;
  let _csrf: string;
  const ENV = {
    UPSTREAM_ISSUER: 'https://inapas.example.go.id',
    UPSTREAM_CLIENT_ID: 'kediri-id-env',
    UPSTREAM_CLIENT_SECRET: SECRETS[4]!,
    UPSTREAM_CLAIMS: 'name=nama_lengkap, birthdate=tanggal_lahir',
    UPSTREAM_VERIFIED_ACR: 'urn:inapas:loa:2,urn:inapas:loa:3',
  };

  beforeAll(async () => {
    server = await startTestServer(ENV);
    await createCitizen(server.instance, ADMIN);
    const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
    ({ agent: admin, csrf: _csrf } = await signedIn(server, ADMIN, '/admin/masuk-nasional', totp));
  });
  afterAll(() => server?.close());

  test('is stored at the start, enabled, with the settings and defaults UPSTREAM_* give', async () => {
    expect(await server.instance.upstreams.find('inapas')).toMatchObject({
      label: 'INApas', issuer: 'https://inapas.example.go.id', clientId: 'kediri-id-env', authMethod: 'client_secret_basic', enabled: true, source: 'environment',
      scopes: 'openid profile email phone nik', nikClaim: 'nik',
      claimMap: { name: 'nama_lengkap', birthdate: 'tanggal_lahir', email: 'email', phone: 'phone_number' },
      verifiedAcr: ['urn:inapas:loa:2', 'urn:inapas:loa:3'], mfaAcr: [],
    });
    expect(await server.instance.upstreams.credentials('inapas')).toEqual({ method: 'client_secret_basic', secret: SECRETS[4] });
    expect((await auditOf(server)).map((e) => [e.type, e.actor])).toEqual([['upstream.created', 'environment']]);
  });

  test('is listed and shown read-only, with a note that UPSTREAM_* set it, and never its secret', async () => {
    const list = await page(admin, '/admin/masuk-nasional');
    expect(list.html).toContain('href="/admin/masuk-nasional/inapas"');
    expect(list.html).toContain('Variabel lingkungan UPSTREAM_*');
    const shown = await page(admin, '/admin/masuk-nasional/inapas');
    expect(shown.status).toBe(200);
    expect(shown.html).toContain('Penyedia ini diatur oleh variabel lingkungan UPSTREAM_*');
    expect(shown.html).toContain('kediri-id-env');
    expect(shown.html).toContain(`${server.url}/masuk-dengan/inapas/kembali`);
    expect(shown.html).not.toContain('name="clientSecret"');
    expect(shown.html).not.toContain('action="/admin/masuk-nasional/inapas/status"');
    for (const { html } of [list, shown, await page(admin, '/admin/audit')]) expect(html).not.toContain(SECRETS[4]);
    expect((await page(admin, '/admin/masuk-nasional/inapas?lang=en')).html).toContain('This provider is set by the UPSTREAM_* environment variables');
    await page(admin, '/admin/masuk-nasional?lang=id');
  });

  test('an edit or a change of status is refused (400) and changes nothing; its slug cannot be taken', async () => {
    const before = await stored(server);
    for (const [path, fields] of [
      ['/admin/masuk-nasional/inapas', upstreamForm({ label: 'INApas Palsu', clientId: 'lain', authMethod: 'client_secret_basic', clientSecret: 'lain' })],
      ['/admin/masuk-nasional/inapas/status', { enabled: 'tidak' }],
      ['/admin/masuk-nasional', upstreamForm({ label: 'INApas Palsu' })],
    ] as const) {
      const res = await admin.post(path, { _csrf, ...fields });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(await res.text()).toMatch(/diatur oleh variabel lingkungan UPSTREAM_\*|Kode itu sudah dipakai/);
    }
    expect(await stored(server)).toEqual(before);
    expect(await server.instance.upstreams.credentials('inapas')).toEqual({ method: 'client_secret_basic', secret: SECRETS[4] });
  });

  test('a start with the same UPSTREAM_* writes nothing; a changed one is written and audited; one made in /admin of that slug is taken over', async () => {
    const { upstreams, config } = server.instance;
    const before = await stored(server);
    await upstreams.applyEnvironment(config.upstream!);
    expect(await stored(server)).toEqual(before);
    expect(await auditOf(server)).toHaveLength(1);

    await upstreams.applyEnvironment({ ...config.upstream!, label: 'INApas Nasional', authMethod: 'private_key_jwt', clientSecret: '' });
    expect(await upstreams.find('inapas')).toMatchObject({ label: 'INApas Nasional', authMethod: 'private_key_jwt', source: 'environment' });
    expect(await upstreams.credentials('inapas')).toMatchObject({ method: 'private_key_jwt' });
    const last = (await auditOf(server)).at(-1)!;
    expect(last).toMatchObject({ type: 'upstream.updated', actor: 'environment', details: { before: { label: 'INApas' }, after: { label: 'INApas Nasional' }, clientSecretChanged: true } });

    await upstreams.create({ ...config.upstream!, slug: 'ikd', label: 'IKD', enabled: false }, 'test', '127.0.0.1');
    await upstreams.applyEnvironment({ ...config.upstream!, slug: 'ikd', label: 'IKD' });
    expect(await upstreams.find('ikd')).toMatchObject({ source: 'environment', enabled: true });
  });
});
