import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const DEWI = { nik: '3571026305880004', name: 'Dewi Lestari', birthdate: '1988-05-23', email: 'dewi@example.id', password: 'perahu-kertas-di-sungai-brantas' };
const PHONE_CHROME = 'Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const DESKTOP_FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** A browser that sends its own user agent, as a phone or a desktop does. */
class BrowserAgent extends Agent {
  constructor(origin: string, private readonly userAgent: string) {
    super(origin);
  }

  override request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('user-agent', this.userAgent);
    return super.request(url, { ...init, headers });
  }
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, BUDI);
  await createCitizen(server.instance, DEWI);
});
afterAll(() => server.close());

/** Signs in to /akun through Kediri ID (the portal client); returns the browser and the page. */
async function accountPage(who: { email: string; password: string }, agent = new Agent(server.url)) {
  const start = await agent.request('/akun');
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password);
  const { res } = await agent.follow(landed);
  return { agent, html: await res!.text(), status: res!.status };
}

describe('the account page (/akun)', () => {
  test('needs a sign-in, then shows the profile with the NIK masked', async () => {
    const { status, html } = await accountPage(SITI);
    expect(status).toBe(200);
    expect(html).toContain(SITI.name);
    expect(html).toContain('3571 **** **** 0001');
    expect(html).not.toContain(SITI.nik);
  });

  test('signing out of the account page ends the Kediri ID session in this browser', async () => {
    const { agent, html } = await accountPage(SITI);
    expect((await agent.post('/keluar', { _csrf: csrfTokenOf(html) })).status).toBe(303);
    const again = await agent.request('/akun');
    expect(again.status).toBe(303);
    const { res, url } = await agent.follow(again.headers.get('location')!);
    expect(url).toMatch(/\/interaction\//);
    expect(await res!.text()).toContain('name="password"');
  });

  test('a connected service is listed and can be revoked: its refresh token stops working', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Layanan Pajak Daerah', unit: 'bppkad' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile offline_access', prompt: 'consent' });
    expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toBeTruthy();

    const { agent, html } = await accountPage(SITI);
    expect(html).toContain('Layanan Pajak Daerah');
    const grant = /name="grant" value="([^"]+)"/.exec(html)![1]!;

    // Someone else cannot revoke it.
    const other = await accountPage(BUDI);
    const foreign = await other.agent.post('/akun/layanan/cabut', { _csrf: csrfTokenOf(other.html), grant });
    expect(foreign.status).toBe(400);

    const revoked = await agent.post('/akun/layanan/cabut', { _csrf: csrfTokenOf(html), grant });
    expect(revoked.status).toBe(303);
    const after = await (await agent.request('/akun?dicabut=1')).text();
    expect(after).toContain('Akses layanan sudah dicabut');
    expect(after).not.toContain('Cabut akses Layanan Pajak Daerah');
    const latest = await server.instance.db.query('select 1 from oidc_payloads where grant_id = $1', [grant]);
    expect(latest.rowCount).toBe(0);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const audited = await server.instance.db.query("select 1 from audit_events where type = 'consent.revoked' and client_id = $1", [clientId]);
    expect(audited.rowCount).toBe(1);
  });

  test('download my data: the account\'s own data, and no other account\'s', async () => {
    const { agent } = await accountPage(SITI);
    const res = await agent.request('/akun/data');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('attachment');
    const data = (await res.json()) as { account: Record<string, unknown>; activity: Array<{ type: string }> };
    expect(data.account).toMatchObject({ nik: SITI.nik, name: SITI.name, email: SITI.email, birthdate: SITI.birthdate });
    // What the retention job keeps of the account is the citizen's data too.
    for (const kept of ['last_active_at', 'unverified_notice_at', 'inactivity_warned_at', 'disabled_inactive_at']) expect(data.account).toHaveProperty(kept);
    expect(data.activity.map((a) => a.type)).toEqual(expect.arrayContaining(['citizen.created', 'login.succeeded']));
    const text = JSON.stringify(data);
    expect(text).not.toContain(BUDI.nik);
    expect(text).not.toContain(BUDI.email);
    expect(text).not.toContain('password_hash');
  });

  test('the activity list shows the citizen\'s own events', async () => {
    const { html } = await accountPage(BUDI);
    expect(html).toContain('Berhasil masuk');
    expect(html).toContain('Akun dibuat');
  });

  test('the sessions say which browser and where from, and mark this one; no raw user agent or address', async () => {
    // Signed in on a desktop at a service, then on the phone to the account page.
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Layanan Perpustakaan', unit: 'diskominfo' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    await signIn(new BrowserAgent(server.url, DESKTOP_FIREFOX), (await authorizationRequest(rp, { prompt: 'consent' })).url, DEWI.email, DEWI.password);
    // A session's login time is in whole seconds: logins a second apart are told apart.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { html } = await accountPage(DEWI, new BrowserAgent(server.url, PHONE_CHROME));

    const sessions = html.slice(html.indexOf('Sesi masuk aktif'), html.indexOf('id="masuk-dengan"')).split('<section class="service">').slice(1);
    expect(sessions).toHaveLength(2);
    // This browser's session first, and only it marked.
    expect(sessions[0]).toContain('<strong>Chrome di Android</strong> <span class="tag">sesi ini</span>');
    expect(sessions[1]).toContain('<strong>Firefox di Windows</strong>');
    expect(sessions[1]).toContain('Layanan: Layanan Perpustakaan');
    expect(html.match(/sesi ini<\/span>/g)).toHaveLength(1);
    // The test server is on the loopback address: the local network, in the sessions and the activity.
    for (const session of sessions) expect(session).toMatch(/Masuk pada \d{1,2} \S+ \d{4} \d{2}\.\d{2} WIB · jaringan lokal/);
    expect(html).toMatch(/<li>[^<]* WIB · Berhasil masuk · jaringan lokal<\/li>/);
    for (const raw of ['Mozilla/5.0', 'Gecko', '127.0.0.1', '::1']) expect(html).not.toContain(raw);
  });

  test('times show in WIB with the zone named, and the birth date as a day that never shifts', async () => {
    // The account was made at 18:00 UTC on 22 May: in Kediri it was already 23 May.
    const id = (await server.instance.citizens.findByEmail(DEWI.email))!.id;
    await server.instance.db.query("update audit_events set at = '2026-05-22T18:00:00Z' where citizen_id = $1 and type = 'citizen.created'", [id]);
    const { agent, html } = await accountPage(DEWI);
    expect(html).toContain('<li>23 Mei 2026 01.00 WIB · Akun dibuat</li>');
    expect(html).toContain('<dd>23 Mei 1988</dd>');
    expect(html).not.toContain('UTC');
    const english = await (await agent.request('/akun?lang=en')).text();
    expect(english).toContain('<li>23 May 2026 01:00 WIB · Account created</li>');
    expect(english).toContain('<dd>23 May 1988</dd>');
  });

  test('ending a sign-in session ends it at the provider and revokes the refresh tokens made in it', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Layanan Izin Usaha', unit: 'dpmptsp' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const tokens = await signInAndExchange(rp, BUDI.email, BUDI.password, { scope: 'openid offline_access', prompt: 'consent' });
    const { agent, html } = await accountPage(BUDI);
    expect(html).toContain('Layanan: Layanan Izin Usaha');
    // The session in which the service was used (the account page's own sign-in is another one).
    const block = html.split('<section class="service">').find((part) => part.includes('Layanan: Layanan Izin Usaha'))!;
    const target = /name="session" value="([^"]+)"/.exec(block)![1]!;
    const ended = await agent.post('/akun/sesi/akhiri', { _csrf: csrfTokenOf(html), session: target });
    expect(ended.status).toBe(303);
    const gone = await server.instance.db.query("select 1 from oidc_payloads where model = 'Session' and id = $1", [target]);
    expect(gone.rowCount).toBe(0);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Another account's session cannot be ended from here.
    const other = await accountPage(SITI);
    const budiSession = (await server.instance.db.query<{ id: string }>(
      "select id from oidc_payloads where model = 'Session' and payload->>'accountId' = $1 limit 1",
      [(await server.instance.citizens.findByEmail(BUDI.email))!.id],
    )).rows[0]!.id;
    expect((await other.agent.post('/akun/sesi/akhiri', { _csrf: csrfTokenOf(other.html), session: budiSession })).status).toBe(400);
    expect((await server.instance.db.query("select 1 from oidc_payloads where model = 'Session' and id = $1", [budiSession])).rowCount).toBe(1);
  });

  test('ending all sessions revokes every grant and token of the account', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Layanan Akta', unit: 'dispendukcapil' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    const { agent, html } = await accountPage(SITI);
    expect((await agent.post('/akun/sesi/akhiri-semua', { _csrf: csrfTokenOf(html) })).status).toBe(303);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The account page's own session ended too.
    expect((await agent.request('/akun')).status).toBe(303);
    const left = await server.instance.db.query("select 1 from oidc_payloads where payload->>'accountId' = $1", [(await server.instance.citizens.findByEmail(SITI.email))!.id]);
    expect(left.rowCount).toBe(0);
  });

  test('the changes that guard the account need a recent login: a session carried over from a service asks for the password again', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Layanan Kesehatan', unit: 'diskominfo' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    // Signed in at a service: /akun then opens with that Kediri ID session, without a new login.
    const agent = new Agent(server.url);
    await signIn(agent, (await authorizationRequest(rp, { prompt: 'consent' })).url, BUDI.email, BUDI.password);
    const opened = await agent.follow('/akun');
    expect(new URL(opened.url).pathname).toBe('/akun');
    expect(opened.res!.status).toBe(200);

    for (const path of ['/akun/kode-pemulihan', '/akun/dua-langkah', '/akun/kunci-sandi', '/akun/email', '/akun/faktor/hapus?faktor=totp']) {
      const res = await agent.request(path);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(`/masuk?ulang=1&lanjut=${encodeURIComponent(path)}`);
    }
    // The way back asks for the password (prompt=login), then continues to the page asked for.
    const back = await agent.follow('/masuk?ulang=1&lanjut=%2Fakun%2Fdua-langkah');
    expect(new URL(back.url).pathname).toMatch(/^\/interaction\//);
    const html = await back.res!.text();
    expect(html).toContain('name="password"');
    const login = await agent.post(`${back.url}/login`, { _csrf: csrfTokenOf(html), identifier: BUDI.email, password: BUDI.password });
    const landed = await agent.follow(login.headers.get('location')!);
    expect(new URL(landed.url).pathname).toBe('/akun/dua-langkah');
    expect(landed.res!.status).toBe(200);
  });

  test('changing the password needs the current one, then ends every session', async () => {
    const { agent, html } = await accountPage(BUDI);
    const _csrf = csrfTokenOf(html);
    const wrong = await agent.post('/akun/kata-sandi', { _csrf, current: 'bukan-ini', password: 'kereta-api-ke-surabaya', password_confirm: 'kereta-api-ke-surabaya' });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('Kata sandi saat ini salah');
    const common = await agent.post('/akun/kata-sandi', { _csrf, current: BUDI.password, password: 'password123', password_confirm: 'password123' });
    expect(common.status).toBe(400);
    const ok = await agent.post('/akun/kata-sandi', { _csrf, current: BUDI.password, password: 'kereta-api-ke-surabaya', password_confirm: 'kereta-api-ke-surabaya' });
    expect(ok.status).toBe(303);
    expect(await server.instance.citizens.authenticate(BUDI.email, 'kereta-api-ke-surabaya')).toBeDefined();
    const sessions = await server.instance.db.query("select 1 from oidc_payloads where payload->>'accountId' = $1", [(await server.instance.citizens.findByEmail(BUDI.email))!.id]);
    expect(sessions.rowCount).toBe(0);
    // The portal session ended too: the account page asks for a sign-in again.
    expect((await agent.request('/akun')).status).toBe(303);
    BUDI.password = 'kereta-api-ke-surabaya';
  });

  test('deleting the account: login impossible, personal data gone, audit kept without it', async () => {
    const { agent, html } = await accountPage(BUDI);
    const id = (await server.instance.citizens.findByEmail(BUDI.email))!.id;
    const _csrf = csrfTokenOf(html);
    expect((await agent.post('/akun/hapus', { _csrf, password: BUDI.password })).status).toBe(400);
    expect((await agent.post('/akun/hapus', { _csrf, password: 'salah-kata-sandi', confirm: 'ya' })).status).toBe(400);
    const deleted = await agent.post('/akun/hapus', { _csrf, password: BUDI.password, confirm: 'ya' });
    expect(deleted.status).toBe(200);
    expect(await deleted.text()).toContain('sudah dihapus');
    expect(await server.instance.citizens.authenticate(BUDI.email, BUDI.password)).toBeUndefined();
    expect(await server.instance.citizens.findByEmail(BUDI.email)).toBeUndefined();
    const everything = await server.instance.db.query<{ dump: string }>(
      `select string_agg(t::text, ' ') as dump from (
         select row_to_json(c)::text as t from citizens c union all select row_to_json(a)::text from audit_events a
         union all select row_to_json(o)::text from outbox o union all select row_to_json(p)::text from oidc_payloads p) x`,
    );
    const dump = everything.rows[0]!.dump;
    for (const personal of [BUDI.nik, BUDI.email, BUDI.name]) expect(dump).not.toContain(personal);
    const kept = await server.instance.db.query<{ ip: string | null }>("select ip from audit_events where citizen_id = $1", [id]);
    expect(kept.rowCount).toBeGreaterThan(0);
    expect(kept.rows.every((r) => r.ip === null)).toBe(true);
  });
});
