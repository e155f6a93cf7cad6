/**
 * The units' APIs in the admin console (/admin/api): registered, changed and removed by an
 * administrator with a recent login, each change audited and followed at once by the token
 * endpoint (no restart); bad input refused (400) with every problem named and nothing stored;
 * CSRF and the role guard.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt } from 'jose';
import type { Middleware } from 'koa';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { createCitizen, createWebClient, grantStaff, SITI } from '../support/fixtures.js';
import { relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { adminRouter } from '../../src/web/admin/router.js';
import type { AppDeps } from '../../src/web/app.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const API = 'https://api.bppkad.example.go.id/retribusi';

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

/** What the tables hold, to see that a refused request changed nothing. */
const stored = async (server: TestServer) => ({
  servers: (await server.instance.db.query('select * from resource_servers order by indicator')).rows,
  clients: (await server.instance.db.query('select * from resource_server_clients order by 1, 2')).rows,
  audited: (await server.instance.db.query("select count(*)::int as n from audit_events where type like 'resource_server.%'")).rows[0],
});

/** The client credentials grant's outcome for the API: the token's lifetime, or the OAuth error. */
async function outcome(rp: oidc.Configuration): Promise<number | string> {
  try {
    const { iat, exp } = decodeJwt((await oidc.clientCredentialsGrant(rp, { resource: API })).access_token);
    return exp! - iat!;
  } catch (error) {
    return String((error as { error?: string }).error);
  }
}

describe('unit APIs in the admin console', () => {
  let server: TestServer;
  let admin: Agent;
  let adminId: string;
  let _csrf: string;
  let clientId: string;
  let rp: oidc.Configuration;
  let apiPath: string;
  let devTotp: string;
  const form = (fields: Record<string, string> = {}) => ({ indicator: API, name: 'Retribusi Daerah', scopes: 'retribusi:baca retribusi:tulis', clients: '', ttl: '300', ...fields });

  beforeAll(async () => {
    server = await startTestServer();
    const { instance } = server;
    await createCitizen(instance);
    for (const person of [ADMIN, DEV]) await createCitizen(instance, person);
    const granted = await grantStaff(instance, ADMIN.email, 'admin');
    adminId = granted.id;
    devTotp = (await grantStaff(instance, DEV.email, 'developer', 'bppkad')).totp;
    let clientSecret: string;
    ({ clientId, clientSecret } = await createWebClient(instance, { unit: 'bppkad', name: 'Layanan Pajak Daerah' }));
    rp = await relyingParty(server.url, clientId, clientSecret);
    ({ agent: admin, csrf: _csrf } = await signedIn(server, ADMIN, '/admin/api', granted.totp));
  });
  afterAll(() => server?.close());

  test('an API is registered with no client allowed; listing the client, and changing the lifetime, apply to the next token', async () => {
    const list = await page(admin, '/admin/api');
    expect(list.html).toContain('Belum ada API yang terdaftar.');
    expect(list.html).toContain('Token JWT tidak dapat dicabut sebelum kedaluwarsa');
    expect(list.html).toContain('id="ttl" name="ttl" type="text" inputmode="numeric" spellcheck="false" value="300"');

    const created = await admin.post('/admin/api', { _csrf, ...form() });
    expect(created.status).toBe(303);
    apiPath = created.headers.get('location')!.replace(/\?dibuat=1$/, '');
    expect(apiPath).toMatch(/^\/admin\/api\/[0-9a-f-]{36}$/);
    const shown = await page(admin, `${apiPath}?dibuat=1`);
    expect(shown.status).toBe(200);
    for (const text of ['API didaftarkan.', `<code class="break">${API}</code>`, `<code class="break">${server.url}/jwks</code>`, '<code>at+jwt</code>, <code>ES256</code>', 'tidak ada klien yang dapat meminta token untuk API ini']) {
      expect(shown.html).toContain(text);
    }
    // Strict by default: no client may until listed.
    expect(await outcome(rp)).toBe('invalid_target');

    const saved = await admin.post(apiPath, { _csrf, ...form({ indicator: 'https://elsewhere.example.go.id/', clients: `  ${clientId}\n`, ttl: '120' }) });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe(`${apiPath}?disimpan=1`);
    // At once, though the registry is held in memory.
    expect(await outcome(rp)).toBe(120);
    const after = await page(admin, `${apiPath}?disimpan=1`);
    expect(after.html).toContain('Perubahan disimpan dan berlaku segera.');
    expect(after.html).toContain(`<a class="link" href="/admin/layanan/${clientId}">Layanan Pajak Daerah</a>`);
    // The indicator stays: it is the audience the API checks.
    expect(await server.instance.resourceServers.list()).toMatchObject([{ indicator: API, clientIds: [clientId], accessTokenTtl: 120 }]);
    expect((await page(admin, '/admin/api')).html).toContain(`<code>${API}</code>`);
    expect((await page(admin, `${apiPath}?lang=en`)).html).toContain('To check tokens in the API');
    await page(admin, '/admin/api?lang=id');
  });

  test('bad input is refused (400) with every problem in the error summary, linked to its field; nothing is stored', async () => {
    const before = await stored(server);
    for (const [fields, field, message] of [
      [{ indicator: 'http://api.example.go.id/x' }, 'indicator', 'Tulis alamat API sebagai URI https lengkap'],
      [{ indicator: 'https://api.example.go.id/x#y' }, 'indicator', 'Tulis alamat API sebagai URI https lengkap'],
      [{ indicator: 'https://api.example.go.id/x?y=1' }, 'indicator', 'Tulis alamat API sebagai URI https lengkap'],
      [{ indicator: 'https://user:pw@api.example.go.id/' }, 'indicator', 'Tulis alamat API sebagai URI https lengkap'],
      [{ indicator: 'bukan alamat' }, 'indicator', 'Tulis alamat API sebagai URI https lengkap'],
      [{ indicator: API }, 'indicator', 'Alamat itu sudah terdaftar untuk API lain.'],
      [{ indicator: 'https://api.example.go.id/a', name: 'X' }, 'name', 'Nama harus 2 sampai 100 karakter.'],
      [{ indicator: 'https://api.example.go.id/b', scopes: 'retribusi:baca profile' }, 'scopes', 'bukan scope identitas'],
      [{ indicator: 'https://api.example.go.id/c', scopes: 'Baca<script>' }, 'scopes', 'Scope hanya huruf kecil'],
      [{ indicator: 'https://api.example.go.id/d', clients: `${clientId} bukan-klien` }, 'clients', 'Tidak ada klien dengan client ID berikut: bukan-klien'],
      [{ indicator: 'https://api.example.go.id/e', ttl: '59' }, 'ttl', 'Masa berlaku token harus bilangan bulat 60 sampai 900 detik.'],
      [{ indicator: 'https://api.example.go.id/f', ttl: '901' }, 'ttl', 'Masa berlaku token harus bilangan bulat'],
      [{ indicator: 'https://api.example.go.id/g', ttl: 'lima menit' }, 'ttl', 'Masa berlaku token harus bilangan bulat'],
      [{ indicator: 'https://api.example.go.id/h', ttl: '' }, 'ttl', 'Masa berlaku token harus bilangan bulat'],
    ] as const) {
      const res = await admin.post('/admin/api', { _csrf, ...form(fields) });
      const html = await res.text();
      expect({ fields, status: res.status }).toEqual({ fields, status: 400 });
      expect({ fields, has: html.includes(message) }).toEqual({ fields, has: true });
      expect(html).toContain(`<a href="#${field}">`);
      expect(html).toContain(`id="${field}-error"`);
    }
    // Every problem at once, each linked, the form given back as typed.
    const many = await admin.post('/admin/api', { _csrf, ...form({ indicator: 'ftp://x', name: '', scopes: 'openid', clients: 'tidak-ada', ttl: '0' }) });
    const html = await many.text();
    expect(many.status).toBe(400);
    for (const field of ['indicator', 'name', 'scopes', 'clients', 'ttl']) expect(html).toContain(`<a href="#${field}">`);
    expect(html).toContain('Tidak ada klien dengan client ID berikut: tidak-ada');
    expect(html).toContain('value="ftp://x"');
    // A change refused in the same way keeps the API as it was.
    const edit = await admin.post(apiPath, { _csrf, ...form({ name: '', clients: 'tidak-ada', ttl: '1000' }) });
    expect(edit.status).toBe(400);
    const editHtml = await edit.text();
    for (const field of ['name', 'clients', 'ttl']) expect(editHtml).toContain(`<a href="#${field}">`);
    // Forms that are not forms, and ids that name nothing.
    expect((await admin.post('/admin/api', { _csrf, name: 'x\u0000' })).status).toBe(400);
    expect((await admin.post('/admin/api/00000000-0000-4000-8000-000000000000', { _csrf, ...form() })).status).toBe(400);
    expect((await admin.post('/admin/api/bukan-id/hapus', { _csrf })).status).toBe(400);
    expect((await page(admin, '/admin/api/00000000-0000-4000-8000-000000000000')).status).toBe(400);
    expect(await stored(server)).toEqual(before);
    expect(await outcome(rp)).toBe(120);
  });

  test('without the CSRF token, or with a forged one, nothing changes (403)', async () => {
    const before = await stored(server);
    for (const token of [undefined, 'forged-token', `${_csrf}x`]) {
      const withToken = (fields: Record<string, string>) => (token === undefined ? fields : { _csrf: token, ...fields });
      expect((await admin.post('/admin/api', withToken(form({ indicator: 'https://api.example.go.id/palsu' })))).status).toBe(403);
      expect((await admin.post(apiPath, withToken(form({ clients: '' })))).status).toBe(403);
      expect((await admin.post(`${apiPath}/hapus`, withToken({}))).status).toBe(403);
    }
    expect(await stored(server)).toEqual(before);
  });

  test('a developer or a citizen gets no access (403) and changes nothing', async () => {
    const before = await stored(server);
    for (const [who, area, totp] of [[DEV, '/developer/permintaan/baru', devTotp], [SITI, '/akun', undefined]] as const) {
      const { agent, status, csrf } = await signedIn(server, who, area, totp);
      expect(status).toBe(200);
      for (const path of ['/admin/api', apiPath]) expect({ path, status: (await agent.request(path)).status }).toEqual({ path, status: 403 });
      for (const [path, fields] of [['/admin/api', form({ indicator: 'https://api.example.go.id/penyusup' })], [apiPath, form({ clients: '' })], [`${apiPath}/hapus`, {}]] as const) {
        expect({ path, status: (await agent.post(path, { _csrf: csrf, ...fields })).status }).toEqual({ path, status: 403 });
      }
    }
    expect(await stored(server)).toEqual(before);
  });

  test('registering, changing and removing an API need a recent login (the routes have recentLogin)', () => {
    const recentLogin: Middleware = (_ctx, next) => next();
    const router = adminRouter(server.instance as unknown as AppDeps, (_ctx, next) => next(), recentLogin);
    const guarded = (path: string) => router.stack.find((layer) => layer.path === path && layer.methods.includes('POST'))!.stack.includes(recentLogin);
    expect(['/admin/api', '/admin/api/:id', '/admin/api/:id/hapus'].map(guarded)).toEqual([true, true, true]);
  });

  test('removing the API stops its tokens at once; every change is audited with its actor and address, before and after', async () => {
    const removed = await admin.post(`${apiPath}/hapus`, { _csrf });
    expect(removed.status).toBe(303);
    expect(removed.headers.get('location')).toBe('/admin/api?dihapus=1');
    expect(await outcome(rp)).toBe('invalid_target');
    expect((await page(admin, '/admin/api?dihapus=1')).html).toContain('API dihapus.');

    const entries = (await server.instance.db.query<{ type: string; actor: string; ip: string; details: Record<string, unknown> }>(
      "select type, actor, ip, details from audit_events where type like 'resource_server.%' order by id",
    )).rows;
    expect(entries.map((e) => e.type)).toEqual(['resource_server.created', 'resource_server.updated', 'resource_server.deleted']);
    for (const entry of entries) expect(entry).toMatchObject({ actor: adminId, ip: expect.stringMatching(/127\.0\.0\.1/) });
    expect(entries[0]!.details).toMatchObject({ after: { indicator: API, name: 'Retribusi Daerah', scopes: ['retribusi:baca', 'retribusi:tulis'], clientIds: [], accessTokenTtl: 300 } });
    expect(entries[1]!.details).toMatchObject({ before: { clientIds: [], accessTokenTtl: 300 }, after: { clientIds: [clientId], accessTokenTtl: 120 } });
    expect(entries[2]!.details).toMatchObject({ before: { indicator: API } });
  });
});
