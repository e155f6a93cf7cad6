/**
 * Accessibility and mobile check (WCAG 2.1 AA): every page a citizen, a
 * counter officer, a unit developer and an administrator can reach, in Bahasa Indonesia and in
 * English, on a phone and on a desktop, has no serious or critical axe-core violation and the
 * right <html lang>, and on the 360 px phone is no wider than its screen (a table's last column or
 * a long select off to the right is out of sight); at one of the two sizes per language, every
 * interactive element is reached with Tab, in order, with a visible focus indicator. A sign-in by keyboard alone; the weight of
 * the login page; and no request to any origin but the server's own, on any page.
 *
 * One browser; per role one signed-in context at each size (the phone context takes the desktop
 * context's cookies, so each person signs in once); the language is the kid.lang cookie, the
 * same one the language link sets. "Masuk dengan INApas" goes to a fake INApas (a second
 * oidc-provider, tests/support/fake-upstream.ts) and back; its pages are not ours to check.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, BrowserContextOptions, Page, Response } from 'playwright-core';
import { horizontalOverflow, keyboardProblems, seriousViolations, withAxe } from '../support/accessibility.js';
import { describeWithBrowser, landAtCallback, launchBrowser, newWatchedContext, type Watcher } from '../support/browser.js';
import { closedAddress, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { SITI, createCitizen, createWebClient, grantStaff, totpCode, enrolTotp } from '../support/fixtures.js';
import { lastEmailTo } from '../support/mail.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { releaseStatement } from '../../src/audit/data-releases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import type { ClientRegistration } from '../../src/clients/registration.js';
import { initiateDeviceAuthorization } from 'openid-client';

const OFFICER = { nik: '3571011203870005', name: 'Hendra Loket', birthdate: '1987-03-12', email: 'hendra@mpp.kedirikota.go.id', password: 'loket-mpp-dhoho-plaza' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
/** A unit developer without a second factor: the page that says to set one up. */
const EKO = { nik: '3571022208850004', name: 'Eko Prasetyo', birthdate: '1985-08-22', email: 'eko@dpupr.example.id', password: 'tahu-takwa-dan-getuk-pisang' };
const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
/** A unit's API that the relying party's service may call on the citizen's behalf. */
const API = 'https://api.dispendukcapil.example.go.id/akta';
/** A citizen with a TOTP app (the second step of a login). */
const RINA = { nik: '3571025507920006', name: 'Rina Wulandari', birthdate: '1992-07-15', email: 'rina@example.id', password: 'gunung-kelud-di-pagi-hari' };
/** No account has this email: the login page answers with an error (and Siti's account counts no failures). */
const NOBODY = { email: 'belum-terdaftar@example.id', password: 'apa-saja-boleh' };
/** A citizen who has not confirmed the email yet (the code page after the password). */
const AGUS = { nik: '3571030911950007', name: 'Agus Salim', birthdate: '1995-11-09', email: 'agus@example.id', password: 'simpang-lima-gumul-malam' };
/** At INApas, with no Kediri ID account: the new-account page. */
const ANI = { nik: '3571024506900001', name: 'Ani Rahayu', birthdate: '1990-06-05' };
/** At INApas, and with an unverified Kediri ID account of the same name: the password page that links the two. */
const WAHYU = { nik: '3571021508850008', name: 'Wahyu Hidayat', birthdate: '1985-08-15', email: 'wahyu@example.id', password: 'taman-sekartaji-pagi-hari' };
/** At INApas as "Lestari Putri Wulandari", and with an unverified Kediri ID account as "Lestari Putri": the counter must sort it out. */
const LESTARI = { nik: '3571035203910009', name: 'Lestari Putri', birthdate: '1991-03-12', email: 'lestari@example.id', password: 'goa-selomangleng-di-barat' };
/** A verified identity: the counter offers to correct the name. */
const HARTONO = { nik: '3571011506800005', name: 'Hartono', birthdate: '1980-06-15', email: 'hartono@example.id', password: 'pasar-bandar-kidul-pagi' };

const PHONE: BrowserContextOptions = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } };
const SIZES = { phone: PHONE, desktop: DESKTOP } as const;
type Size = keyof typeof SIZES;
const LANGS = ['id', 'en'] as const;
type Lang = (typeof LANGS)[number];
/** The keyboard walk runs at one size per language (each size is walked in one of the two). */
const KEYBOARD_SIZE: Record<Lang, Size> = { id: 'desktop', en: 'phone' };

const LOGIN_PAGE_BUDGET = 50 * 1024;
/**
 * Per role. The public role alone takes about 100 s on a busy machine (load 13): at 120 s it timed
 * out when another browser file ran beside it (jest runs two files at once). Since every page is
 * also checked at 360 px for overflow, the administrator's role outlasted 180 s at load 15 to 20.
 */
const ROLE_TIMEOUT = 360_000;

const REGISTRATION: ClientRegistration = {
  name: 'Pajak Daerah Online',
  type: 'web',
  redirectUris: ['https://pajak.kedirikota.go.id/callback'],
  postLogoutRedirectUris: [],
  scopes: ['profile', 'email', 'address', 'nik'],
  scopeReasons: { nik: 'Pajak bumi dan bangunan dicatat per NIK wajib pajak.', address: 'Alamat objek pajak dicocokkan.' },
  authMethod: 'client_secret_basic',
  policyUri: 'https://pajak.kedirikota.go.id/privasi',
  contact: DEV.email,
};

/** One page: how the browser gets there, the path it must then be at, and (where the path alone does not tell) an element only that page has. */
interface Visit {
  name: string;
  at: string | RegExp;
  shows?: string;
  open(page: Page): Promise<unknown>;
}

/** The people who use the pages, each in a browser of their own (none for the public pages). */
interface Role {
  name: string;
  person?: { email: string; password: string };
  /** Where the person signs in to. */
  area?: string;
  /** The TOTP secret of a person who needs a second factor. */
  totp?: () => string;
  pages: () => Visit[];
}

describeWithBrowser('accessibility and mobile: every page, both languages, phone and desktop (axe-core in Chromium)', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  let inapas: FakeUpstream;
  const contexts: { context: BrowserContext; watcher: Watcher }[] = [];
  /** Every URL any page of this file asked for (documents, styles, scripts, images, fonts). */
  const requested: string[] = [];
  let newAuthorization: (params?: Record<string, string>) => Promise<string>;
  /** A counter's request to confirm (CIBA) for Siti, waiting on her /akun (made once). */
  let newCounterRequest: () => Promise<unknown>;
  /** A kiosk starts a device authorization: the address its QR code shows. */
  let newKioskCode: () => Promise<string>;
  let ids: { siti: string; pendingRequest: string; changeRequest: string; client: string; invitation: string; reset: string; api: string };
  let totps: { officer: string; admin: string; developer: string };

  beforeAll(async () => {
    [server, rpPages, browser, inapas] = await Promise.all([startTestServer(), startRelyingPartyPages(), launchBrowser(), startFakeUpstream()]);
    const { instance } = server;
    const siti = await createCitizen(instance);
    for (const person of [OFFICER, DEV, ADMIN, RINA, EKO]) await createCitizen(instance, person);
    for (const person of [WAHYU, LESTARI]) await instance.citizens.create(person, { actor: 'test', emailVerified: true });
    await instance.citizens.create(AGUS, { actor: 'test', emailVerified: false });
    await instance.citizens.create(HARTONO, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' });
    await enrolTotp(instance, RINA.email);
    const officer = await grantStaff(instance, OFFICER.email, 'officer');
    const admin = await grantStaff(instance, ADMIN.email, 'admin');
    const developer = await grantStaff(instance, DEV.email, 'developer', 'bppkad');
    totps = { officer: officer.totp, admin: admin.totp, developer: developer.totp };
    const devId = developer.id;
    await instance.staff.grant(EKO.email, 'developer', 'test', 'dpupr');

    // A client of the developer's unit, approved, with a change pending; and a new request pending.
    const approved = await instance.clientRequests.submit({ unit: 'bppkad', registration: REGISTRATION, submittedBy: devId });
    const client = await instance.clientRequests.approve(approved, admin.id, ['address'], '127.0.0.1');
    const changeRequest = await instance.clientRequests.submit({
      unit: 'bppkad', registration: { ...REGISTRATION, scopes: ['profile', 'email', 'phone'] }, submittedBy: devId, clientId: client,
    });
    const pendingRequest = await instance.clientRequests.submit({ unit: 'bppkad', registration: { ...REGISTRATION, name: 'Retribusi Pasar' }, submittedBy: devId });
    // Siti's data was given to that client once: the account page and the record of processing show their tables.
    const release = releaseStatement({ citizenId: siti.id, clientId: client, grantId: 'grant-e2e', claims: ['sub', 'name', 'email'] });
    await instance.db.query(release.sql, release.params);

    // Siti is invited to be a developer (she never accepts: the page stays there); the officer asked for a new password.
    await instance.staff.invite({ email: SITI.email, role: 'developer', unit: 'bppkad' }, admin.id, '127.0.0.1');
    const invitation = (await lastEmailTo(instance.db, SITI.email)).link!;
    await instance.passwordReset.request(OFFICER.email, '127.0.0.1');
    const reset = (await lastEmailTo(instance.db, OFFICER.email)).link!;
    ids = { siti: siti.id, pendingRequest, changeRequest, client, invitation, reset, api: '' };

    const { clientId, clientSecret } = await createWebClient(instance, {
      name: 'Layanan Akta Kelahiran',
      redirectUris: [`${rpPages.origin}/callback`],
      postLogoutRedirectUris: [`${rpPages.origin}/signed-out`],
    });
    // The catalogue lists the service online, and one at the counter.
    await instance.catalogue.create({
      unit: 'dispendukcapil', name: 'Akta Kelahiran', description_id: 'Mengurus akta kelahiran anak secara online.',
      description_en: 'Apply for a birth certificate online.', kind: 'online', client_id: clientId, acr: 'urn:kediri:acr:verified',
    }, 'test');
    await instance.catalogue.create({
      unit: 'samsat', name: 'Pajak Kendaraan Tahunan', description_id: 'Bayar pajak kendaraan, tunai atau nontunai.',
      description_en: 'Pay the yearly vehicle tax.', kind: 'counter', client_id: '', acr: 'urn:kediri:acr:basic',
    }, 'test');
    // The national identity providers, both on the login page: INApas added in the console (the
    // fake, private_key_jwt as INApas asks), and IKD set by UPSTREAM_*, whose address nothing
    // listens on (down: its error page).
    const upstream = {
      label: 'INApas', issuer: inapas.issuer, clientId: 'kediri-id', authMethod: 'private_key_jwt' as const, scopes: 'openid profile nik',
      nikClaim: 'nik', claimMap: { name: 'name', birthdate: 'birthdate', email: 'email', phone: 'phone_number' }, verifiedAcr: 'urn:inapas:loa:2', mfaAcr: '', enabled: true,
    };
    await instance.upstreams.create({ ...upstream, slug: 'inapas' }, admin.id, '127.0.0.1');
    await instance.upstreams.applyEnvironment({ ...upstream, slug: 'ikd', label: 'IKD', issuer: await closedAddress() });
    inapas.addClient({
      client_id: 'kediri-id',
      jwks: { keys: [(await instance.upstreams.find('inapas'))!.publicJwk] },
      token_endpoint_auth_method: 'private_key_jwt',
      redirect_uris: [`${server.url}/masuk-dengan/inapas/kembali`],
    });
    for (const [login, person] of [['ani', ANI], ['wahyu', { ...WAHYU, name: WAHYU.name.toUpperCase() }], ['lestari', { ...LESTARI, name: 'Lestari Putri Wulandari' }]] as const) {
      inapas.addPerson({ login, claims: { nik: person.nik, name: person.name, birthdate: person.birthdate }, acr: 'urn:inapas:loa:2' });
    }
    // A unit's API the service may call on the citizen's behalf (named on the consent page).
    ids.api = (await instance.resourceServers.create({
      indicator: API, name: 'API Akta Kelahiran', scopes: ['akta:baca'], clientIds: [clientId], accessTokenTtl: 300,
    }, admin.id, '127.0.0.1')).id;
    const rp = await relyingParty(server.url, clientId, clientSecret);
    newAuthorization = async (params = {}) =>
      (await authorizationRequest(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile email', ...params })).url;

    const counterClient = await createWebClient(instance, { name: 'Loket Dispendukcapil', scope: 'openid profile' });
    await instance.clientRequests.setProfile(counterClient.clientId, { subjectType: 'public', highAssurance: false, ciba: true, kiosk: false }, 'test', '127.0.0.1');
    const counter = await relyingParty(server.url, counterClient.clientId, counterClient.clientSecret);
    // One request waits for a citizen at a time: every view of the page shows the same one.
    let counterRequest: Promise<unknown> | undefined;
    newCounterRequest = () =>
      (counterRequest ??= oidc.initiateBackchannelAuthentication(counter, { scope: 'openid profile', login_hint: SITI.nik, binding_message: 'LOKET 3 A-17' }));
    const kioskClient = await createWebClient(instance, { name: 'Kios Antrean Dispendukcapil' });
    await instance.clientRequests.setProfile(kioskClient.clientId, { subjectType: 'public', highAssurance: false, ciba: false, kiosk: true }, 'test', '127.0.0.1');
    const kiosk = await relyingParty(server.url, kioskClient.clientId, kioskClient.clientSecret);
    newKioskCode = async () => (await initiateDeviceAuthorization(kiosk, { scope: 'openid profile' })).verification_uri_complete!;
  });

  afterAll(async () => {
    await Promise.all(contexts.map(({ context }) => context.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close(), inapas?.close()]);
  });

  /** A watched browser context whose requests are recorded. */
  async function newBrowserContext(options: BrowserContextOptions) {
    const watched = await newWatchedContext(browser, options);
    const atInapas = (u: string) => URL.parse(u)?.origin === inapas.issuer;
    watched.context.on('request', (request) => {
      // Going to INApas (the citizen's choice) and what INApas's own pages load are not a page of ours loading from elsewhere.
      if (atInapas(request.url()) && (request.isNavigationRequest() || atInapas(request.frame().url()))) return;
      requested.push(request.url());
    });
    contexts.push(watched);
    return watched;
  }

  // --- how pages are reached ---------------------------------------------------------------

  const url = (path: string) => `${server.url}${path}`;
  const go = (path: string) => (page: Page) => page.goto(url(path));
  const INTERACTION = /^\/interaction\/[\w-]+$/;

  /** Does something that loads a new document (a form post, a link), and waits until it has loaded. */
  async function navigation(page: Page, action: () => Promise<unknown>) {
    await Promise.all([page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() }), action()]);
    await page.waitForLoadState();
  }

  /** Fills fields (by CSS selector; true ticks a box) and sends the form whose action is given, with its submit button. */
  async function submit(page: Page, action: string, fields: Record<string, string | true> = {}) {
    for (const [selector, value] of Object.entries(fields)) await (value === true ? page.check(selector) : page.fill(selector, value));
    await navigation(page, () => page.click(`form[action="${action}"] [type="submit"]`));
  }

  /**
   * A kiosk's QR code opened: the provider's page posts the code on (a script), and the
   * confirmation follows. The wait is for that POST's answer, so that a refused one fails here with
   * its status rather than as a missing button; generous, as the CI machine may be loaded.
   */
  async function kioskConfirmation(page: Page) {
    const isCodePost = (response: Response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/device';
    const [posted] = await Promise.all([page.waitForResponse(isCodePost, { timeout: 90_000 }), page.goto(await newKioskCode())]);
    expect(posted.status()).toBe(200);
    await page.waitForSelector('button[name="confirm"]', { timeout: 90_000 });
  }

  /** The password step of the login page of the current interaction. */
  async function enterPassword(page: Page, who: { email: string; password: string }) {
    const action = `${new URL(page.url()).pathname}/login`;
    await submit(page, action, { '#identifier': who.email, '#password': who.password });
  }

  /** A relying party's authorization request, then the password of `who`: the page that follows. */
  const afterPassword = (who: { email: string; password: string }, params?: Record<string, string>) => async (page: Page) => {
    await page.goto(await newAuthorization(params));
    await enterPassword(page, who);
  };

  let phoneRegistrations = 0;

  /**
   * A relying party's authorization request, "Masuk dengan INApas" on its login page, and INApas's
   * login form as `login`: the page Kediri ID shows when the browser is back.
   */
  const viaInapas = (login: string) => async (page: Page) => {
    await page.goto(await newAuthorization());
    // Kediri ID and the fake share the host 127.0.0.1, so its session cookie (_session, the name
    // oidc-provider gives it) would sign the next visit in as the last person: a new one each
    // time. Nobody has a session at Kediri ID in the role that comes here.
    await page.context().clearCookies({ name: /^_session/ });
    await navigation(page, () => page.click('a[href$="/masuk-dengan/inapas"]'));
    await page.fill('#login', login);
    await navigation(page, () => page.click('button[value="login"]'));
  };
  const HUBUNGKAN = /^\/interaction\/[\w-]+\/hubungkan$/;

  /** A relying party's authorization request, then "Masuk dengan kode lewat WhatsApp/SMS" on its login page. */
  async function codeSignIn(page: Page) {
    await page.goto(await newAuthorization());
    await navigation(page, () => page.click('a[href$="/kode"]'));
  }

  async function signIn(page: Page, role: Role) {
    await page.goto(url(role.area!));
    await enterPassword(page, role.person!);
    if (role.totp) await submit(page, new URL(page.url()).pathname.replace(/\/login$/, '/otp'), { '#code': await totpCode(role.totp()) });
    await page.waitForURL((u) => u.pathname === role.area);
  }

  // --- the pages of each role ----------------------------------------------------------------

  const roles: Role[] = [
    {
      name: 'public (no account signed in)',
      pages: () => [
        { name: 'home', at: '/', open: go('/') },
        { name: 'privacy notice', at: '/privasi', open: go('/privasi') },
        { name: 'invitation to a staff role, signed out', at: '/undangan/terima', shows: 'a[href="/masuk?lanjut=%2Fundangan%2Fterima"]', open: (page) => page.goto(ids.invitation) },
        { name: 'service catalogue', at: '/layanan', shows: 'a[href^="/layanan/masuk/"]', open: go('/layanan') },
        {
          name: 'service catalogue: a search (GET form)', at: '/layanan', shows: '[role="status"]',
          open: async (page) => { await page.goto(url('/layanan')); await submit(page, '/layanan', { '#q': 'pajak' }); },
        },
        { name: 'login (a relying party’s authorization request)', at: INTERACTION, shows: '#password', open: async (page) => page.goto(await newAuthorization()) },
        { name: 'login with an error', at: /^\/interaction\/[\w-]+\/login$/, shows: '#identifier[aria-invalid="true"]', open: afterPassword(NOBODY) },
        { name: 'login: second factor', at: /^\/interaction\/[\w-]+\/login$/, shows: 'form[action$="/otp"]', open: afterPassword(RINA) },
        { name: 'login: identity not verified enough', at: /^\/interaction\/[\w-]+\/login$/, shows: 'form[action$="/unmet"]', open: afterPassword(SITI, { acr_values: 'urn:kediri:acr:verified' }) },
        { name: 'login: email not confirmed (code)', at: '/verifikasi', shows: '#code', open: afterPassword(AGUS) },
        { name: 'login: a code by WhatsApp or SMS, the number', at: /^\/interaction\/[\w-]+\/kode$/, shows: '#phone', open: codeSignIn },
        {
          name: 'login: a code by WhatsApp or SMS, the code', at: /^\/interaction\/[\w-]+\/kode\/masukkan$/, shows: '#code',
          open: async (page) => {
            await codeSignIn(page);
            // Numbers of their own (the registrations below take 0812 9999 0001 to 0004): a number's
            // limit (3 codes in 10 minutes) counts every purpose, and a slow run sends more.
            await submit(page, new URL(page.url()).pathname, { '#phone': '0812 9998 0001' });
          },
        },
        {
          name: 'registration with a phone: the code', at: '/verifikasi', shows: '#code',
          // Opened in each language and size: a new person (NIK serial) and number each time.
          open: async (page) => {
            const serial = String(++phoneRegistrations).padStart(4, '0');
            await page.goto(url('/daftar'));
            await submit(page, '/daftar', {
              '#nik': `357101030361${serial}`, '#name': 'Warga Telepon', '#birthdate': '3', '#birth_month': '3', '#birth_year': '1961',
              '#phone': `0812 9999 ${serial}`, '#password': 'kereta-api-ke-stasiun-kediri', '#password_confirm': 'kereta-api-ke-stasiun-kediri', '#privacy': true,
            });
          },
        },
        { name: 'password reset by phone: the code', at: '/lupa-sandi/kode', shows: '#code', open: async (page) => { await page.goto(url('/lupa-sandi')); await submit(page, '/lupa-sandi', { '#contact': '0812 9998 0003' }); } },
        { name: 'registration', at: '/daftar', open: go('/daftar') },
        { name: 'registration with errors', at: '/daftar', shows: '.error-summary', open: async (page) => { await page.goto(url('/daftar')); await submit(page, '/daftar'); } },
        { name: 'email verification, nothing pending', at: '/verifikasi', open: go('/verifikasi') },
        { name: 'email verification by link', at: '/verifikasi', shows: 'input[name="token"]', open: go('/verifikasi?token=tautan-dari-email') },
        { name: 'password reset request', at: '/lupa-sandi', open: go('/lupa-sandi') },
        { name: 'password reset sent', at: '/lupa-sandi', shows: 'main:not(:has(form))', open: async (page) => { await page.goto(url('/lupa-sandi')); await submit(page, '/lupa-sandi', { '#contact': 'siapa@example.id' }); } },
        { name: 'password reset form (emailed link)', at: '/lupa-sandi/atur', shows: 'input[type="password"]', open: (page) => page.goto(ids.reset) },
        { name: 'password reset link invalid', at: '/lupa-sandi/atur', open: go('/lupa-sandi/atur?token=kedaluwarsa') },
        { name: 'new email confirmation (emailed link)', at: '/akun/email/konfirmasi', open: go('/akun/email/konfirmasi?token=tautan-dari-email') },
        // Without a session there is nothing to confirm: the provider says at once that the browser is signed out.
        { name: 'signed out', at: '/session/end/success', open: go('/session/end') },
        { name: 'error page (an unknown interaction)', at: '/interaction/tidak-dikenal', open: go('/interaction/tidak-dikenal') },
        { name: 'not found (404)', at: '/tidak-ada', open: go('/tidak-ada') },
        { name: 'a service that cannot be opened (404)', at: '/layanan/masuk/tidak-ada', open: go('/layanan/masuk/tidak-ada') },
        { name: 'kiosk: the user-code page', at: '/device', shows: '#user_code', open: go('/device') },
        {
          name: 'kiosk: a wrong code', at: '/device', shows: '#user_code[aria-invalid="true"]',
          open: async (page) => {
            await page.goto(url('/device'));
            await page.fill('#user_code', 'BCDF-GHJK');
            await navigation(page, () => page.click('main form [type="submit"]'));
          },
        },
        { name: 'kiosk: the confirmation (Izinkan or Batal)', at: '/device', shows: 'button[name="confirm"]', open: kioskConfirmation },
        { name: 'outbox (/dev/mail)', at: '/dev/mail', open: go('/dev/mail') },
        { name: 'WhatsApp and SMS outbox (/dev/pesan)', at: '/dev/pesan', open: go('/dev/pesan') },
      ],
    },
    {
      // Public too, in browsers of their own: these pages go to INApas and back, which takes time.
      name: 'public, signing in with a national identity provider (INApas, IKD)',
      pages: () => [
        { name: 'login with the national identity providers (INApas, IKD)', at: INTERACTION, shows: 'a[href$="/masuk-dengan/inapas"]', open: async (page) => page.goto(await newAuthorization()) },
        { name: 'INApas: a new account from its details', at: HUBUNGKAN, shows: 'form[action$="/hubungkan/akun-baru"]', open: viaInapas('ani') },
        {
          name: 'INApas: a new account, an email refused', at: /^\/interaction\/[\w-]+\/hubungkan\/akun-baru$/, shows: '#email[aria-invalid="true"]',
          open: async (page) => {
            await viaInapas('ani')(page);
            await submit(page, `${new URL(page.url()).pathname}/akun-baru`, { '#email': 'bukan-email' });
          },
        },
        { name: 'INApas: an account holds the NIK, its password links it', at: HUBUNGKAN, shows: 'form[action$="/hubungkan/sandi"] #password', open: viaInapas('wahyu') },
        { name: 'INApas: refused, the details differ (the counter)', at: HUBUNGKAN, shows: 'main a.button[href^="/interaction/"]', open: viaInapas('lestari') },
        {
          name: 'a national identity provider that is down', at: /^\/interaction\/[\w-]+\/masuk-dengan\/ikd$/, shows: 'main a.button[href^="/interaction/"]',
          open: async (page) => {
            await page.goto(await newAuthorization());
            await navigation(page, () => page.click('a[href$="/masuk-dengan/ikd"]'));
          },
        },
      ],
    },
    {
      name: 'citizen',
      person: SITI,
      area: '/akun',
      pages: () => [
        { name: 'home, signed in (the services used)', at: '/', shows: 'form[action="/keluar"]', open: go('/') },
        { name: 'account overview', at: '/akun', open: go('/akun') },
        { name: 'account overview with a counter\'s request to confirm', at: '/akun', shows: '.confirmation', open: async (page) => { await newCounterRequest(); await page.goto(url('/akun')); } },
        { name: 'profile', at: '/akun/profil', open: go('/akun/profil') },
        { name: 'change password', at: '/akun/kata-sandi', open: go('/akun/kata-sandi') },
        { name: 'change email', at: '/akun/email', open: go('/akun/email') },
        { name: 'new email code', at: '/akun/email/verifikasi', open: go('/akun/email/verifikasi') },
        { name: 'change phone', at: '/akun/telepon', shows: 'input[name="phone"]', open: go('/akun/telepon') },
        { name: 'change phone with errors', at: '/akun/telepon', shows: '.error-summary', open: async (page) => { await page.goto(url('/akun/telepon')); await submit(page, '/akun/telepon', { '#phone': '12345' }); } },
        { name: 'new phone code, nothing pending', at: '/akun/telepon/verifikasi', open: go('/akun/telepon/verifikasi') },
        { name: 'TOTP enrolment', at: '/akun/dua-langkah', open: go('/akun/dua-langkah') },
        { name: 'passkey', at: '/akun/kunci-sandi', open: go('/akun/kunci-sandi') },
        { name: 'renew recovery codes', at: '/akun/kode-pemulihan', open: go('/akun/kode-pemulihan') },
        { name: 'delete account', at: '/akun/hapus', open: go('/akun/hapus') },
        { name: 'consent (a relying party’s authorization request)', at: INTERACTION, shows: 'form[action$="/consent"]', open: async (page) => page.goto(await newAuthorization({ prompt: 'consent' })) },
        {
          name: 'consent with a unit’s API (a resource indicator)', at: INTERACTION, shows: 'form[action$="/consent"]',
          open: async (page) => page.goto(await newAuthorization({ prompt: 'consent', scope: 'openid profile email akta:baca', resource: API })),
        },
        { name: 'invitation to a staff role', at: '/undangan/terima', open: (page) => page.goto(ids.invitation) },
        {
          name: 'kiosk: signed in (approved while signed in on the phone)', at: '/device', shows: 'main h1:only-of-type',
          open: async (page) => {
            await kioskConfirmation(page);
            await navigation(page, () => page.click('button[name="confirm"]'));
          },
        },
        { name: 'sign-out confirmation', at: '/session/end', open: go('/session/end') },
      ],
    },
    {
      name: 'counter officer',
      person: OFFICER,
      area: '/loket',
      totp: () => totps.officer,
      pages: () => [
        { name: 'counter search', at: '/loket', open: go('/loket') },
        { name: 'counter: a citizen found', at: '/loket/cari', shows: 'form[action="/loket/verifikasi"]', open: async (page) => { await page.goto(url('/loket')); await submit(page, '/loket/cari', { '#nik': SITI.nik }); } },
        { name: 'counter: a bad phone number', at: '/loket/telepon', shows: '.error-summary', open: async (page) => { await page.goto(url('/loket')); await submit(page, '/loket/cari', { '#nik': SITI.nik }); await submit(page, '/loket/telepon', { '#phone': '12345' }); } },
        { name: 'counter: an invalid NIK', at: '/loket/cari', shows: '.error-summary', open: async (page) => { await page.goto(url('/loket')); await submit(page, '/loket/cari', { '#nik': '1234' }); } },
        { name: 'counter: a name correction without a reason', at: '/loket/nama', shows: '#reason-error', open: async (page) => { await page.goto(url('/loket')); await submit(page, '/loket/cari', { '#nik': HARTONO.nik }); await submit(page, '/loket/nama', { '#name': 'Hartono Wijaya' }); } },
      ],
    },
    {
      name: 'unit developer',
      person: DEV,
      area: '/developer',
      totp: () => totps.developer,
      pages: () => [
        { name: 'developer portal', at: '/developer', open: go('/developer') },
        { name: 'new registration request', at: '/developer/permintaan/baru', open: go('/developer/permintaan/baru') },
        { name: 'catalogue text', at: '/developer/katalog', open: go('/developer/katalog') },
        { name: 'catalogue text of a client', at: `/developer/katalog/${ids.client}`, shows: '#description_en', open: go(`/developer/katalog/${ids.client}`) },
        {
          name: 'registration request with errors',
          at: '/developer/permintaan/baru',
          shows: '.error-summary',
          open: async (page) => { await page.goto(url('/developer/permintaan/baru')); await submit(page, '/developer/permintaan/baru'); },
        },
        { name: 'a pending request', at: `/developer/permintaan/${ids.pendingRequest}`, open: go(`/developer/permintaan/${ids.pendingRequest}`) },
        { name: 'a request to change a client', at: `/developer/permintaan/${ids.changeRequest}`, open: go(`/developer/permintaan/${ids.changeRequest}`) },
        { name: 'an approved client', at: `/developer/layanan/${ids.client}`, open: go(`/developer/layanan/${ids.client}`) },
        { name: 'change an approved client', at: `/developer/layanan/${ids.client}/ubah`, open: go(`/developer/layanan/${ids.client}/ubah`) },
        {
          name: 'a new client secret, shown once',
          at: `/developer/layanan/${ids.client}/rahasia`,
          shows: '#client-secret',
          open: async (page) => {
            await page.goto(url(`/developer/layanan/${ids.client}`));
            await submit(page, `/developer/layanan/${ids.client}/rahasia`, { '#confirm': true });
          },
        },
      ],
    },
    {
      name: 'unit developer without a second factor',
      person: EKO,
      area: '/developer',
      pages: () => [
        { name: 'second factor required', at: '/developer', shows: 'a[href="/akun/dua-langkah"]', open: go('/developer') },
      ],
    },
    {
      name: 'administrator',
      person: ADMIN,
      area: '/admin',
      totp: () => totps.admin,
      pages: () => [
        { name: 'admin home', at: '/admin', open: go('/admin') },
        { name: 'review queue', at: '/admin/permintaan', open: go('/admin/permintaan') },
        { name: 'review of a new client', at: `/admin/permintaan/${ids.pendingRequest}`, open: go(`/admin/permintaan/${ids.pendingRequest}`) },
        { name: 'review of a change, side by side', at: `/admin/permintaan/${ids.changeRequest}`, open: go(`/admin/permintaan/${ids.changeRequest}`) },
        { name: 'clients', at: '/admin/layanan', open: go('/admin/layanan') },
        { name: 'a client', at: `/admin/layanan/${ids.client}`, open: go(`/admin/layanan/${ids.client}`) },
        { name: 'service catalogue', at: '/admin/katalog', open: go('/admin/katalog') },
        { name: 'a catalogue entry', at: '/admin/katalog/baru', shows: '#description_id', open: go('/admin/katalog/baru') },
        { name: 'units', at: '/admin/unit', open: go('/admin/unit') },
        { name: 'national identity providers', at: '/admin/masuk-nasional', shows: '#slug', open: go('/admin/masuk-nasional') },
        {
          name: 'a new national identity provider with errors',
          at: '/admin/masuk-nasional',
          shows: '.error-summary',
          open: async (page) => { await page.goto(url('/admin/masuk-nasional')); await submit(page, '/admin/masuk-nasional', { '#issuer': 'http://inapas.example.go.id' }); },
        },
        { name: 'a national identity provider', at: '/admin/masuk-nasional/inapas', shows: '#clientSecret', open: go('/admin/masuk-nasional/inapas') },
        { name: 'a national identity provider set by UPSTREAM_*', at: '/admin/masuk-nasional/ikd', open: go('/admin/masuk-nasional/ikd') },
        { name: 'unit APIs', at: '/admin/api', shows: '#indicator', open: go('/admin/api') },
        { name: 'record of processing (UU PDP)', at: '/admin/privasi', open: go('/admin/privasi') },
        {
          name: 'a new unit API with errors',
          at: '/admin/api',
          shows: '.error-summary',
          open: async (page) => { await page.goto(url('/admin/api')); await submit(page, '/admin/api', { '#indicator': 'http://api.example.go.id', '#ttl': '5' }); },
        },
        { name: 'a unit API', at: `/admin/api/${ids.api}`, shows: '#clients', open: go(`/admin/api/${ids.api}`) },
        { name: 'staff and invitations', at: '/admin/staf', open: go('/admin/staf') },
        { name: 'citizen search', at: '/admin/warga', open: go('/admin/warga') },
        {
          name: 'citizen search results',
          at: '/admin/warga/cari',
          shows: `a[href="/admin/warga/${ids.siti}"]`,
          open: async (page) => { await page.goto(url('/admin/warga')); await submit(page, '/admin/warga/cari', { '#q': SITI.email }); },
        },
        { name: 'a citizen', at: `/admin/warga/${ids.siti}`, open: go(`/admin/warga/${ids.siti}`) },
        { name: 'audit log', at: '/admin/audit', open: go('/admin/audit') },
        { name: 'signing keys', at: '/admin/kunci', open: go('/admin/kunci') },
        { name: 'registration access tokens', at: '/admin/token-registrasi', open: go('/admin/token-registrasi') },
        {
          name: 'a registration access token, shown once',
          at: '/admin/token-registrasi',
          shows: '#token',
          open: async (page) => {
            await page.goto(url('/admin/token-registrasi'));
            await submit(page, '/admin/token-registrasi', { '#uses': '1', '#hours': '24' });
          },
        },
      ],
    },
  ];

  // --- the checks ------------------------------------------------------------------------------

  /** Opens each page and checks it; returns one readable line per problem found. */
  async function checkPages(page: Page, visits: Visit[], lang: Lang, size: Size, roleName: string): Promise<string[]> {
    const findings: string[] = [];
    for (const visit of visits) {
      const where = `${roleName} › ${visit.name} [${lang}, ${size}]`;
      await visit.open(page);
      const path = new URL(page.url()).pathname;
      const arrived = typeof visit.at === 'string' ? path === visit.at : visit.at.test(path);
      if (!arrived || (visit.shows && (await page.locator(visit.shows).count()) === 0)) {
        findings.push(`${where}: the page did not open; the browser is at ${page.url()}${visit.shows ? ` (expected ${visit.shows} there)` : ''}`);
        continue;
      }
      const htmlLang = await page.evaluate(() => document.documentElement.lang);
      if (htmlLang !== lang) findings.push(`${where} (${path}): <html lang="${htmlLang}">, expected "${lang}"`);
      for (const v of await seriousViolations(page)) {
        findings.push(`${where} (${path}): ${v.impact} ${v.rule} – ${v.help}: ${v.targets.join(' | ')}`);
      }
      if (size === 'phone') {
        const overflow = await horizontalOverflow(page);
        if (overflow.by > 0) findings.push(`${where} (${path}): ${overflow.by} px wider than the ${PHONE.viewport!.width} px screen: ${overflow.widest.join(' | ')}`);
      }
      // axe moves no focus: the walk starts at the top of the page, as a person's first Tab would.
      if (KEYBOARD_SIZE[lang] === size) {
        for (const p of await keyboardProblems(page)) findings.push(`${where} (${path}): keyboard: ${p.problem}: ${p.element}`);
      }
    }
    return findings;
  }

  test.each(roles)('$name: no serious or critical axe violation, the right language, every control reached by Tab with a visible focus', async (role) => {
    const desktop = await newBrowserContext(DESKTOP);
    const first = await desktop.context.newPage();
    if (role.person) await signIn(first, role);
    // The phone takes the desktop's cookies: the same person, signed in once.
    const phone = await newBrowserContext({ ...PHONE, storageState: await desktop.context.storageState() });
    const pages: Record<Size, Page> = { desktop: first, phone: await phone.context.newPage() };
    await Promise.all([withAxe(desktop.context), withAxe(phone.context)]);

    const findings: string[] = [];
    for (const lang of LANGS) {
      // The two sizes side by side: two browsers of the same person.
      const found = await Promise.all(
        (Object.keys(SIZES) as Size[]).map(async (size) => {
          await (size === 'phone' ? phone : desktop).context.addCookies([{ name: 'kid.lang', value: lang, url: server.url }]);
          return checkPages(pages[size], role.pages(), lang, size, role.name);
        }),
      );
      findings.push(...found.flat());
    }
    expect(findings).toEqual([]);
    expect([...desktop.watcher.problems(), ...phone.watcher.problems()]).toEqual([]);
  }, ROLE_TIMEOUT);

  test('by keyboard alone: a citizen signs in on the login page, allows access and lands at the relying party', async () => {
    const { context, watcher } = await newBrowserContext(DESKTOP);
    const page = await context.newPage();
    await page.goto(await newAuthorization());

    /** Presses Tab until the element matching `selector` has focus (at most 20 times). */
    async function tabTo(selector: string) {
      for (let presses = 0; presses < 20; presses++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
      }
      throw new Error(`Tab never reached ${selector} on ${page.url()}`);
    }

    await tabTo('#identifier');
    await page.keyboard.type(SITI.email);
    await tabTo('#password');
    await page.keyboard.type(SITI.password);
    await page.keyboard.press('Enter');
    await page.waitForSelector('form[action$="/consent"] button');
    await tabTo('form[action$="/consent"] button');
    await page.keyboard.press('Enter');

    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(watcher.problems()).toEqual([]);
  });

  test('the login page weighs under 50 KB with a cold cache, and everything it loads comes from the server itself', async () => {
    const { context, watcher } = await newBrowserContext(PHONE);
    const page = await context.newPage();
    const sizes: Promise<{ url: string; bytes: number }>[] = [];
    page.on('response', (response) => {
      sizes.push(response.request().sizes().then((s) => ({ url: response.url(), bytes: s.responseHeadersSize + s.responseBodySize })));
    });
    await page.goto(await newAuthorization());
    await page.waitForLoadState('networkidle');
    const responses = await Promise.all(sizes);
    const total = responses.reduce((sum, r) => sum + r.bytes, 0);
    console.log(`Login page weight (cold cache): ${total} bytes in ${responses.length} responses\n${responses.map((r) => `  ${r.bytes}\t${new URL(r.url).pathname}`).join('\n')}`);

    // The document and its stylesheet at least; all of it from the server.
    expect(responses.map((r) => new URL(r.url).pathname)).toEqual(expect.arrayContaining(['/static/app.css']));
    expect(responses.filter((r) => new URL(r.url).origin !== server.url)).toEqual([]);
    expect(total).toBeLessThan(LOGIN_PAGE_BUDGET);
    expect(watcher.problems()).toEqual([]);
  });

  test('no page above asked for anything from another origin (no CDN, fonts, analytics)', () => {
    expect(requested.length).toBeGreaterThan(0);
    // The one other place: the relying party's callback, where the keyboard journey ends.
    const elsewhere = requested.filter((u) => new URL(u).origin !== server.url && !u.startsWith(`${rpPages.origin}/callback?`));
    expect(elsewhere).toEqual([]);
  });
});
