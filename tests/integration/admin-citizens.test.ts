import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { lastEmailTo } from '../support/mail.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const RINI = { nik: '3571034203870004', name: 'Rini Petugas', birthdate: '1987-03-02', email: 'rini@kedirikota.go.id', password: 'loket-mpp-dhoho-plaza' };
const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const MASKED = '3571 **** **** 0001';

let server: TestServer;
let rp: oidc.Configuration;
let adminId: string;
let adminTotp: string;
let officerTotp: string;
let sitiId: string;
/** The admin, signed in to /admin with a fresh login, and a CSRF token of the admin's browser. */
let admin: { agent: Agent; csrf: string };

beforeAll(async () => {
  server = await startTestServer();
  sitiId = (await createCitizen(server.instance)).id;
  await createCitizen(server.instance, BUDI);
  await createCitizen(server.instance, ADMIN);
  await createCitizen(server.instance, RINI);
  ({ id: adminId, totp: adminTotp } = await grantStaff(server.instance, ADMIN.email, 'admin'));
  ({ totp: officerTotp } = await grantStaff(server.instance, RINI.email, 'officer'));
  const { clientId, clientSecret } = await createWebClient(server.instance);
  rp = await relyingParty(server.url, clientId, clientSecret);
  admin = await signedIn(ADMIN, '/admin/warga');
});

afterAll(() => server.close());

/** A browser signed in (a fresh login) to an area, with the CSRF token of its landing page. */
async function signedIn(who: { email: string; password: string }, area: string) {
  const agent = new Agent(server.url);
  const start = await agent.request(area);
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { ...(who === ADMIN && { totp: adminTotp }), ...(who === RINI && { totp: officerTotp }) });
  const { res } = await agent.follow(landed);
  expect(res!.status).toBe(200);
  return { agent, csrf: csrfTokenOf(await res!.text()) };
}

const search = async (q: string) => {
  const res = await admin.agent.post('/admin/warga/cari', { _csrf: admin.csrf, q });
  return { status: res.status, html: await res.text() };
};

const auditRows = async (type: string, citizenId: string) =>
  (await server.instance.db.query<{ actor: string | null; details: Record<string, unknown> }>(
    'select actor, details from audit_events where type = $1 and citizen_id = $2 order by id',
    [type, citizenId],
  )).rows;

/** The type column of each row of the audit page. */
const typesOn = (html: string) => [...html.matchAll(/<tr>\s*<td[^>]*>[^<]*<\/td>\s*<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);

describe('citizens in the admin console', () => {
  test('a search by NIK or by email finds the citizen, the NIK masked and not in the page', async () => {
    for (const q of [SITI.nik, SITI.email.toUpperCase()]) {
      const { status, html } = await search(q);
      expect(status).toBe(200);
      expect(html).toContain(SITI.name);
      expect(html).toContain(SITI.email);
      expect(html).toContain(MASKED);
      expect(html).toContain(`/admin/warga/${sitiId}`);
      expect(html).not.toContain(SITI.nik);
    }
    expect((await search('3571014101900002')).html).toContain('Tidak ada akun');
    expect((await search('bukan-email')).status).toBe(400);
  });

  test('revealing the NIK for a case or ticket shows it; the audit entry keeps the reason, never the NIK', async () => {
    const res = await admin.agent.post(`/admin/warga/${sitiId}/nik`, { _csrf: admin.csrf, reveal_reason: '  Tiket MPP-2026-0412  ' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(SITI.nik);
    const reveals = await auditRows('citizen.nik_revealed', sitiId);
    expect(reveals).toEqual([{ actor: adminId, details: { reason: 'Tiket MPP-2026-0412' } }]);
    const leaks = await server.instance.db.query("select 1 from audit_events where details::text like '%' || $1 || '%'", [SITI.nik]);
    expect(leaks.rowCount).toBe(0);
    const log = await (await admin.agent.request(`/admin/audit?warga=${sitiId}&jenis=citizen.nik_revealed`)).text();
    expect(log).toContain('Tiket MPP-2026-0412');
    expect(log).not.toContain(SITI.nik);
  });

  test('a reveal without a good reason gets the field\'s message and reveals nothing', async () => {
    const before = await auditRows('citizen.nik_revealed', sitiId);
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /Tuliskan nomor kasus atau tiket/],
      [{ reveal_reason: '   ' }, /Tuliskan nomor kasus atau tiket/],
      [{ reveal_reason: 'ab' }, /harus 3 sampai 200 karakter/],
      [{ reveal_reason: 'x'.repeat(201) }, /harus 3 sampai 200 karakter/],
      [{ reveal_reason: 'Tiket 12\nbaris kedua' }, /tanpa karakter kendali/],
      [{ reveal_reason: 'Tiket\u0007 12' }, /tanpa karakter kendali/],
      [{ reveal_reason: 'Tiket \u202e21 TEKIT' }, /tanpa karakter kendali/],
      [{ reveal_reason: `kasus ${SITI.nik}` }, /tidak boleh memuat NIK/],
      [{ reveal_reason: `kasus ${SITI.nik.replace(/(\d{4})(?=\d)/g, '$1 / ')}` }, /tidak boleh memuat NIK/],
    ];
    for (const [form, message] of cases) {
      const res = await admin.agent.post(`/admin/warga/${sitiId}/nik`, { _csrf: admin.csrf, ...form });
      const html = await res.text();
      expect({ form, status: res.status }).toEqual({ form, status: 400 });
      expect(html).toMatch(message);
      expect(html).toContain('id="reveal_reason-error"');
      expect(html).toContain(MASKED);
      expect(html).not.toContain(SITI.nik);
    }
    expect(await auditRows('citizen.nik_revealed', sitiId)).toEqual(before);
  });

  test('the reveal\'s message is in English when English is chosen', async () => {
    const english = await admin.agent.post(`/admin/warga/${sitiId}/nik?lang=en`, { _csrf: admin.csrf, reveal_reason: '' });
    expect(english.status).toBe(400);
    const html = await english.text();
    expect(html).toContain('Write the case or ticket reference');
    expect(html).toContain('Case or ticket reference');
    expect((await admin.agent.request('/admin/warga?lang=id')).status).toBe(200);
  });

  test('a reason is required to lock, and must not carry a NIK', async () => {
    for (const reason of ['', '   ', `NIK ${SITI.nik.replace(/(\d{4})/g, '$1 ')}`]) {
      const res = await admin.agent.post(`/admin/warga/${sitiId}/kunci`, { _csrf: admin.csrf, reason });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/Tuliskan alasannya|tidak boleh memuat NIK/);
    }
    expect((await server.instance.citizens.findById(sitiId))!.status).toBe('active');
  });

  test('locking stops logins, the portal session and refresh tokens; unlocking lets the citizen in again', async () => {
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    const portal = await signedIn(SITI, '/akun');

    const locked = await admin.agent.post(`/admin/warga/${sitiId}/kunci`, { _csrf: admin.csrf, reason: 'Laporan akun diambil alih' });
    expect(locked.status).toBe(303);
    expect(locked.headers.get('location')).toBe(`/admin/warga/${sitiId}?dikunci=1`);
    expect(await (await admin.agent.request(locked.headers.get('location')!)).text()).toContain('Dikunci');

    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(signInAndExchange(rp, SITI.email, SITI.password)).rejects.toThrow('login answered');
    expect((await portal.agent.request('/akun')).status).toBe(303);
    expect(await auditRows('citizen.locked', sitiId)).toEqual([
      { actor: adminId, details: { reason: 'Laporan akun diambil alih', before: 'active', after: 'locked' } },
    ]);
    expect(await auditRows('session.ended', sitiId)).toEqual([{ actor: adminId, details: { all: true } }]);
    expect((await lastEmailTo(server.instance.db, SITI.email)).subject).toContain('dikunci');

    const unlockWithoutReason = await admin.agent.post(`/admin/warga/${sitiId}/buka`, { _csrf: admin.csrf, reason: '' });
    expect(unlockWithoutReason.status).toBe(400);
    const unlocked = await admin.agent.post(`/admin/warga/${sitiId}/buka`, { _csrf: admin.csrf, reason: 'Diperiksa di loket MPP' });
    expect(unlocked.status).toBe(303);
    expect(await auditRows('citizen.unlocked', sitiId)).toEqual([
      { actor: adminId, details: { reason: 'Diperiksa di loket MPP', before: 'locked', after: 'active' } },
    ]);
    expect((await lastEmailTo(server.instance.db, SITI.email)).subject).toContain('dibuka kembali');
    expect((await signInAndExchange(rp, SITI.email, SITI.password)).access_token).toBeTruthy();
  });

  test('ending all sessions revokes the refresh token and is audited with the admin as actor', async () => {
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    const res = await admin.agent.post(`/admin/warga/${sitiId}/akhiri-sesi`, { _csrf: admin.csrf });
    expect(res.status).toBe(303);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await auditRows('session.ended', sitiId)).at(-1)).toEqual({ actor: adminId, details: { all: true } });
  });

  test('an admin cannot lock their own account; an unknown citizen is 404', async () => {
    const self = await admin.agent.post(`/admin/warga/${adminId}/kunci`, { _csrf: admin.csrf, reason: 'uji' });
    expect(self.status).toBe(400);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await admin.agent.post(`/admin/warga/${unknown}/nik`, { _csrf: admin.csrf, reveal_reason: 'Tiket 1' })).status).toBe(404);
    expect((await admin.agent.request(`/admin/warga/${unknown}`)).status).toBe(404);
    expect((await admin.agent.request('/admin/warga/bukan-id')).status).toBe(404);
  });

  test('a forged CSRF token is refused and changes nothing', async () => {
    const res = await admin.agent.post(`/admin/warga/${sitiId}/kunci`, { _csrf: 'forged', reason: 'uji' });
    expect(res.status).toBe(403);
    const reveals = (await auditRows('citizen.nik_revealed', sitiId)).length;
    const reveal = await admin.agent.post(`/admin/warga/${sitiId}/nik`, { _csrf: 'forged', reveal_reason: 'Tiket MPP-2026-0413' });
    expect(reveal.status).toBe(403);
    expect(await reveal.text()).not.toContain(SITI.nik);
    expect(await auditRows('citizen.nik_revealed', sitiId)).toHaveLength(reveals);
    expect((await server.instance.citizens.findById(sitiId))!.status).toBe('active');
  });
});

describe('the audit log', () => {
  test('filters by type and by actor', async () => {
    const byType = await admin.agent.request('/admin/audit?jenis=citizen.nik_revealed');
    expect(byType.status).toBe(200);
    expect(typesOn(await byType.text())).toEqual(['citizen.nik_revealed']);

    const byActor = await (await admin.agent.request(`/admin/audit?pelaku=${adminId}`)).text();
    expect(new Set(typesOn(byActor))).toEqual(new Set(['citizen.searched', 'citizen.nik_revealed', 'citizen.locked', 'citizen.unlocked', 'session.ended']));
    expect(byActor).not.toContain(SITI.nik);

    // Today in Kediri: the filter's days are WIB.
    const today = new Date(Date.now() + 7 * 3600_000).toISOString().slice(0, 10);
    const byCitizen = await (await admin.agent.request(`/admin/audit?warga=${sitiId}&dari=${today}&sampai=${today}&jenis=citizen.locked`)).text();
    expect(typesOn(byCitizen)).toEqual(['citizen.locked']);
    expect(typesOn(await (await admin.agent.request('/admin/audit?sampai=2000-01-01')).text())).toEqual([]);
  });

  test('pages 50 entries at a time, newest first', async () => {
    for (let i = 0; i < 55; i++) await server.instance.audit({ type: 'unit.updated', actor: 'pager-test', details: { n: i } });
    const first = await (await admin.agent.request('/admin/audit?pelaku=pager-test')).text();
    expect(typesOn(first)).toHaveLength(50);
    expect(first).toContain('{&quot;n&quot;:54}');
    const older = /href="(\/admin\/audit\?[^"]+)" rel="next"/.exec(first)![1]!.replace(/&amp;/g, '&');
    expect(older).toContain('pelaku=pager-test');
    const second = await (await admin.agent.request(older)).text();
    expect(typesOn(second)).toHaveLength(5);
    expect(second).toContain('{&quot;n&quot;:0}');
    expect(second).not.toContain('rel="next"');
  });

  test('bad filter values are a 400 page with a message', async () => {
    const bad = ['dari=2025-02-30', 'dari=2025-13-01', 'sampai=2025-01-32', 'dari=0000-01-01', 'sampai=kemarin', 'dari=2025-02-02&sampai=2025-02-01', 'jenis=tidak.ada', 'jenis=logout&jenis=login.failed',
      'warga=bukan-uuid', 'pelaku=%3Cscript%3E', 'klien=a%20b', 'sebelum=-1', 'sebelum=1e9'];
    for (const query of bad) {
      const res = await admin.agent.request(`/admin/audit?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(await res.text()).toContain('error-summary');
    }
  });
});

describe('who may use these pages', () => {
  const routes = (id: string) => [
    ['GET', '/admin/warga'], ['POST', '/admin/warga/cari'], ['GET', `/admin/warga/${id}`], ['POST', `/admin/warga/${id}/nik`],
    ['POST', `/admin/warga/${id}/kunci`], ['POST', `/admin/warga/${id}/buka`], ['POST', `/admin/warga/${id}/akhiri-sesi`], ['GET', '/admin/audit'],
  ] as const;

  test('a citizen without the admin role gets 403 on every route', async () => {
    const budi = await signedIn(BUDI, '/akun');
    for (const [method, path] of routes(sitiId)) {
      const res = method === 'GET' ? await budi.agent.request(path) : await budi.agent.post(path, { _csrf: budi.csrf, q: SITI.email, reason: 'uji' });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
    expect((await server.instance.citizens.findById(sitiId))!.status).toBe('active');
    expect(await auditRows('citizen.nik_revealed', sitiId)).toHaveLength(1);
  });

  test('a counter officer, staff with a fresh login, may not reveal a NIK', async () => {
    const officer = await signedIn(RINI, '/loket');
    const before = await auditRows('citizen.nik_revealed', sitiId);
    const res = await officer.agent.post(`/admin/warga/${sitiId}/nik`, { _csrf: officer.csrf, reveal_reason: 'Tiket MPP-2026-0414' });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain(SITI.nik);
    expect(await auditRows('citizen.nik_revealed', sitiId)).toEqual(before);
  });

  test('a browser without a session is sent to sign in', async () => {
    const anonymous = new Agent(server.url);
    for (const [method, path] of routes(sitiId)) {
      const res = method === 'GET' ? await anonymous.request(path) : await anonymous.post(path, {});
      expect({ path, status: res.status, location: res.headers.get('location')?.split('?')[0] }).toEqual({ path, status: 303, location: '/masuk' });
    }
  });
});
