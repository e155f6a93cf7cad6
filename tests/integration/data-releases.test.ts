/**
 * Releases of personal data (UU PDP, issue 19): every token response records which claims (names,
 * never values) went to which service, when and under which consent, with no statement of its
 * own; the citizen sees them on /akun and in the data export, and withdrawing a service's consent
 * revokes its grant and tokens and sends it a back-channel logout; the data protection officer
 * reads the record of processing at /admin/privasi and as CSV.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { logoutReceiver, type LogoutReceiver } from '../support/logout-receiver.js';
import { statementsDuring } from '../support/statements.js';

const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
/** What SITI's profile and email scopes release (she has no phone number or address). */
const PROFILE_AND_EMAIL = ['birthdate', 'email', 'email_verified', 'gender', 'name', 'sub', 'updated_at'];

let server: TestServer;
let pajak: { rp: oidc.Configuration; clientId: string };
let logouts: LogoutReceiver;
let sitiId: string;

beforeAll(async () => {
  // No grace for a rotated refresh token: its second use is a replay at once.
  server = await startTestServer({ OUTBOUND_ALLOW: '127.0.0.1', REFRESH_TOKEN_REUSE_GRACE_SECONDS: '0' });
  sitiId = (await createCitizen(server.instance)).id;
  await createCitizen(server.instance, BUDI);
  await createCitizen(server.instance, ADMIN);
  logouts = await logoutReceiver();
  const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Pajak Daerah', unit: 'bppkad', backchannelLogoutUri: logouts.uri });
  pajak = { rp: await relyingParty(server.url, clientId, clientSecret), clientId };
});
afterAll(async () => {
  await logouts.close();
  await server.close();
});

const releasesOf = async (citizenId: string, clientId: string) =>
  (await server.instance.db.query<{ claims: string[]; count: number; grant_id: string; last_at: Date }>(
    'select claims, count, grant_id, last_at from data_releases where citizen_id = $1 and client_id = $2 order by last_at',
    [citizenId, clientId],
  )).rows;

/** A sign-in in this browser at the service, then the code exchange, counting the exchange's statements. */
async function signInCounting(agent: Agent, rp: oidc.Configuration, who: { email: string; password: string }, params: Record<string, string>) {
  const request = await authorizationRequest(rp, params);
  const callback = await signIn(agent, request.url, who.email, who.password);
  let tokens!: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  const statements = await statementsDuring(server.instance.db, async () => (tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks)));
  return { tokens, statements };
}

/** Signs in to /akun through Kediri ID; returns the browser and the page. */
async function accountPage(who: { email: string; password: string }, path = '/akun') {
  const agent = new Agent(server.url);
  const start = await agent.request(path);
  const { res } = await agent.follow(await signIn(agent, start.headers.get('location')!, who.email, who.password));
  return { agent, html: await res!.text() };
}

describe('a release is recorded as the tokens leave', () => {
  test('a login records the claims of the consented scopes (names only, with the grant), in the statements the exchange already sends', async () => {
    const { tokens, statements } = await signInCounting(new Agent(server.url), pajak.rp, SITI, { scope: 'openid profile email offline_access', prompt: 'consent' });
    const [release] = await releasesOf(sitiId, pajak.clientId);
    expect(release).toMatchObject({ claims: PROFILE_AND_EMAIL, count: 1 });
    const grant = await server.instance.db.query("select 1 from oidc_payloads where model = 'Grant' and id = $1 and payload->>'clientId' = $2", [release!.grant_id, pajak.clientId]);
    expect(grant.rowCount).toBe(1);
    // Names, never values.
    expect(JSON.stringify(release)).not.toContain(SITI.email);
    expect(JSON.stringify(release)).not.toContain(SITI.name);
    // The release rides in front of the access token's insert: as many statements as without it
    // (the code read, its consumption, the refresh token's and the access token's inserts).
    expect(statements.filter((sql) => sql.includes('data_releases'))).toHaveLength(1);
    expect(statements.find((sql) => sql.includes('data_releases'))).toMatch(/^with pending_0 as \(insert into data_releases[\s\S]*insert into oidc_payloads/);
    expect(statements).toHaveLength(4);

    // userinfo gives the client no claim beyond those recorded, and asks one statement.
    let userinfo!: oidc.UserInfoResponse;
    const read = await statementsDuring(server.instance.db, async () => (userinfo = await oidc.fetchUserInfo(pajak.rp, tokens.access_token, tokens.claims()!.sub)));
    expect(Object.keys(userinfo).sort()).toEqual(PROFILE_AND_EMAIL);
    expect(read).toHaveLength(1);

    // A refresh is a release too: the same row counts it, in the refresh's three statements.
    const refresh = await statementsDuring(server.instance.db, () => oidc.refreshTokenGrant(pajak.rp, tokens.refresh_token!));
    expect(refresh).toHaveLength(3);
    expect(refresh.filter((sql) => sql.includes('data_releases'))).toHaveLength(1);
    expect(await releasesOf(sitiId, pajak.clientId)).toEqual([expect.objectContaining({ claims: PROFILE_AND_EMAIL, count: 2 })]);
  });

  test('the NIK is recorded only where the client is allowed it and the citizen consented to it', async () => {
    const bank = await createWebClient(server.instance, { name: 'Bank Jatim', unit: 'bank-jatim', scope: 'openid profile nik', allowNik: true });
    const rp = await relyingParty(server.url, bank.clientId, bank.clientSecret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid nik', prompt: 'consent' });
    expect(await releasesOf(sitiId, bank.clientId)).toEqual([expect.objectContaining({ claims: ['nik', 'nik_verified', 'sub'] })]);
    expect((await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).nik).toBe(SITI.nik);
    // Profile only: no NIK in the record.
    await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile', prompt: 'consent' });
    expect((await releasesOf(sitiId, bank.clientId)).map((r) => r.claims)).toContainEqual(['birthdate', 'gender', 'name', 'sub', 'updated_at']);
    const nikRows = await server.instance.db.query("select 1 from data_releases where 'nik' = any(claims) and client_id <> $1", [bank.clientId]);
    expect(nikRows.rowCount).toBe(0);
  });

  test('a wrong code, a replayed code and a replayed refresh token release nothing', async () => {
    const replay = await createWebClient(server.instance, { name: 'Layanan Replay', unit: 'dpmptsp' });
    const rp = await relyingParty(server.url, replay.clientId, replay.clientSecret);
    const budiId = (await server.instance.citizens.findByEmail(BUDI.email))!.id;
    const count = async () => (await releasesOf(budiId, replay.clientId)).reduce((n, r) => n + r.count, 0);
    const signedIn = async () => {
      const request = await authorizationRequest(rp, { scope: 'openid profile offline_access', prompt: 'consent' });
      return { request, callback: new URL(await signIn(new Agent(server.url), request.url, BUDI.email, BUDI.password)) };
    };

    const first = await signedIn();
    const wrong = new URL(first.callback);
    wrong.searchParams.set('code', 'not-a-code');
    await expect(oidc.authorizationCodeGrant(rp, wrong, first.request.checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await count()).toBe(0);
    await oidc.authorizationCodeGrant(rp, first.callback, first.request.checks);
    // A replayed code: refused (and its grant revoked by the provider).
    await expect(oidc.authorizationCodeGrant(rp, first.callback, first.request.checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await count()).toBe(1);

    const second = await signedIn();
    const tokens = await oidc.authorizationCodeGrant(rp, second.callback, second.request.checks);
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(await count()).toBe(3);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await count()).toBe(3);
  });
});

describe('the citizen sees the releases and can withdraw consent', () => {
  test('/akun shows the data shared with each service, in Indonesian and in English', async () => {
    const { agent, html } = await accountPage(SITI);
    expect(html).toContain('Data yang dibagikan');
    expect(html).toMatch(/<td class="break">Pajak Daerah<\/td>\s*<td class="break"[^>]*>ID pengguna Anda di layanan itu, Nama, Tanggal lahir, Jenis kelamin, Waktu profil terakhir diubah, Email, Status verifikasi email<\/td>/);
    expect(html).toContain('2 kali');
    expect(html).toContain('Data yang sudah dibagikan: ');
    const english = await (await agent.request('/akun?lang=en')).text();
    expect(english).toContain('Data shared');
    expect(english).toContain('Your user ID at that service, Name, Date of birth, Gender, When your profile last changed, Email, Email verification status');
    expect(english).toContain('2 times');
  });

  test('the data export holds every release', async () => {
    const { agent } = await accountPage(SITI);
    const data = (await (await agent.request('/akun/data')).json()) as { dataReleases: Array<Record<string, unknown>> };
    expect(data.dataReleases).toContainEqual(expect.objectContaining({ clientId: pajak.clientId, claims: PROFILE_AND_EMAIL, count: 2, grantId: expect.any(String), day: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) }));
    expect(JSON.stringify(data.dataReleases)).not.toContain(SITI.nik);
  });

  test('withdrawing consent revokes every grant and token of the service and sends it a back-channel logout; forged or foreign requests change nothing', async () => {
    // Signed in at the service in a browser (a session the service takes part in), with a refresh token.
    const browser = new Agent(server.url);
    const { tokens } = await signInCounting(browser, pajak.rp, SITI, { scope: 'openid profile email offline_access', prompt: 'consent' });
    const sid = tokens.claims()!.sid as string;
    const grants = async () => (await server.instance.db.query("select id from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1 and payload->>'clientId' = $2", [sitiId, pajak.clientId])).rowCount;
    expect(await grants()).toBeGreaterThan(0);

    const { agent, html } = await accountPage(SITI);
    const grant = new RegExp(`<h3 class="heading-s">Pajak Daerah</h3>[\\s\\S]*?name="grant" value="([^"]+)"`).exec(html)![1]!;
    // A forged CSRF token, and another citizen's request: refused, nothing changes.
    expect((await agent.post('/akun/layanan/cabut', { _csrf: 'forged', grant })).status).toBe(403);
    const budi = await accountPage(BUDI);
    expect((await budi.agent.post('/akun/layanan/cabut', { _csrf: csrfTokenOf(budi.html), grant })).status).toBe(400);
    expect(await grants()).toBeGreaterThan(0);
    expect((await oidc.refreshTokenGrant(pajak.rp, tokens.refresh_token!)).access_token).toBeTruthy();

    // Every session of hers the service took part in (this browser's, and the first test's).
    const sessions = await server.instance.db.query<{ sid: string }>(
      "select payload->'authorizations'->$2->>'sid' as sid from oidc_payloads where model = 'Session' and payload->>'accountId' = $1 and payload->'authorizations' ? $2",
      [sitiId, pajak.clientId],
    );
    expect(sessions.rows.map((r) => r.sid)).toContain(sid);
    const before = logouts.tokens.length;
    expect((await agent.post('/akun/layanan/cabut', { _csrf: csrfTokenOf(html), grant })).status).toBe(303);
    expect(await grants()).toBe(0);
    const refreshed = await server.instance.db.query("select 1 from oidc_payloads where payload->>'accountId' = $1 and payload->>'clientId' = $2", [sitiId, pajak.clientId]);
    expect(refreshed.rowCount).toBe(0);
    await expect(oidc.refreshTokenGrant(pajak.rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(pajak.rp, tokens.access_token, tokens.claims()!.sub)).rejects.toBeTruthy();

    // The back-channel logouts, queued at once, name the sessions the service knew.
    expect(await server.instance.singleLogout.deliverDue()).toBeGreaterThanOrEqual(1);
    const received = logouts.tokens.slice(before);
    const told = received.map((token) => decodeJwt(token));
    expect(told.map((claims) => claims.sid).sort()).toEqual(sessions.rows.map((r) => r.sid).sort());
    for (const claims of told) expect(claims).toMatchObject({ sub: tokens.claims()!.sub, aud: pajak.clientId });
    // Out of the sessions: a later end of them tells the service nothing more.
    const left = await server.instance.db.query("select 1 from oidc_payloads where model = 'Session' and payload->'authorizations' ? $1", [pajak.clientId]);
    expect(left.rowCount).toBe(0);
    const audited = await server.instance.db.query("select ip from audit_events where type = 'consent.revoked' and citizen_id = $1 and client_id = $2", [sitiId, pajak.clientId]);
    expect(audited.rowCount).toBe(1);

    // The record stays, as "no longer connected"; signing in again asks consent and gives a new sid.
    const after = await (await agent.request('/akun?dicabut=1')).text();
    expect(after).toContain('Akses layanan sudah dicabut');
    expect(after).toContain('Pajak Daerah (tidak terhubung lagi)');
    const request = await authorizationRequest(pajak.rp, { scope: 'openid profile email' });
    const { res, url } = await browser.follow(request.url);
    expect(url).toMatch(/\/interaction\//);
    expect(await res!.text()).toContain('Berikan akses');
  });

  test('deleting the account deletes its releases', async () => {
    const budiId = (await server.instance.citizens.findByEmail(BUDI.email))!.id;
    expect((await server.instance.db.query('select 1 from data_releases where citizen_id = $1', [budiId])).rowCount).toBeGreaterThan(0);
    const { agent } = await accountPage(BUDI);
    const form = await (await agent.request('/akun/hapus')).text();
    expect((await agent.post('/akun/hapus', { _csrf: csrfTokenOf(form), password: BUDI.password, confirm: 'ya' })).status).toBe(200);
    expect((await server.instance.db.query('select 1 from data_releases where citizen_id = $1', [budiId])).rowCount).toBe(0);
  });
});

describe('the record of processing (/admin/privasi)', () => {
  test('per service, the claims it is approved for and its releases per month, as a page and as CSV; administrators only', async () => {
    const sneaky = await createWebClient(server.instance, { name: '=HYPERLINK("http://x.example"), "kutip"', unit: 'dpupr', scope: 'openid email' });
    const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
    const admin = new Agent(server.url);
    const start = await admin.request('/admin/privasi');
    await admin.follow(await signIn(admin, start.headers.get('location')!, ADMIN.email, ADMIN.password, { totp }));

    const page = await admin.request('/admin/privasi');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Catatan pemrosesan data pribadi');
    expect(html).toMatch(/Pajak Daerah[\s\S]*Data yang boleh diminta: ID pengguna Anda di layanan itu, Nama, Tanggal lahir, Jenis kelamin, Waktu profil terakhir diubah, Email, Status verifikasi email, Nomor HP, Status verifikasi nomor HP/);
    expect(html).toMatch(/Bank Jatim[\s\S]*NIK diizinkan administrator/);
    expect(html).not.toContain('=HYPERLINK("http'); // escaped in the page

    const csv = await admin.request('/admin/privasi/unduh');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toContain('attachment');
    const lines = (await csv.text()).split('\r\n');
    expect(lines[0]).toBe('client_id,service,unit,status,approved_scopes,approved_claims,nik_allowed,month,releases,citizens,released_claims');
    const month = new Date(Date.now() + 7 * 3600_000).toISOString().slice(0, 7);
    const pajakLine = lines.find((line) => line.startsWith(`${pajak.clientId},`))!;
    // The first login and its refresh, and the withdrawn consent's login and refresh: four releases, one citizen.
    expect(pajakLine).toMatch(new RegExp(`^${pajak.clientId},Pajak Daerah,BPPKAD,active,openid profile email phone offline_access,sub name birthdate gender updated_at email email_verified phone_number phone_number_verified,no,${month},4,1,sub name birthdate gender updated_at email email_verified$`));
    expect(lines).toContain(`${sneaky.clientId},"'=HYPERLINK(""http://x.example""), ""kutip""",DPUPR,active,openid email,sub email email_verified,no,,0,0,`);
    expect(lines.at(-1)).toBe('');

    // A service deleted since keeps its releases in the record, approved for nothing now.
    await server.instance.db.transaction((tx) => server.instance.clients.delete(tx, pajak.clientId));
    const after = (await (await admin.request('/admin/privasi/unduh')).text()).split('\r\n');
    expect(after.find((line) => line.startsWith(`${pajak.clientId},`))).toMatch(new RegExp(`^${pajak.clientId},${pajak.clientId},,deleted,,sub,no,${month},4,1,`));
    expect(await (await admin.request('/admin/privasi')).text()).toContain('dihapus');

    // A citizen without the admin role is refused both.
    const { agent: citizen } = await accountPage(SITI);
    expect((await citizen.request('/admin/privasi')).status).toBe(403);
    expect((await citizen.request('/admin/privasi/unduh')).status).toBe(403);
  });
});
