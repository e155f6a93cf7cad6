/**
 * "Masuk dengan INApas" in a real browser (Debian's Chromium), on a phone: a unit's service asks
 * for a verified identity; the citizen leaves Kediri ID's login page for INApas (a fake one: a
 * second oidc-provider with its own login page, tests/support/fake-upstream.ts), signs in there,
 * and comes back to Kediri ID, which makes an account (or links an existing one with its
 * password) and signs them in to the service at verified, amr fed. And when the national provider
 * cannot be reached: an error page in Indonesian that leads back to the other ways to sign in.
 *
 * Kediri ID runs at http://localhost:port, the fake INApas at http://127.0.0.1:port: two hosts, as
 * in real life. On one host the two would share cookies (a cookie ignores the port), and both
 * providers call their session cookie _session.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, landAtCallback, launchBrowser, newWatchedContext, type Watcher } from '../support/browser.js';
import { createWebClient } from '../support/fixtures.js';
import { LOA3, closedAddress, connectKediri, kediriUpstreamSettings, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JOURNEY_TIMEOUT = 60_000;
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
const VERIFIED = 'urn:kediri:acr:verified';

/** Someone with no Kediri ID account: INApas vouches for her (loa 3). */
const ANI = { login: 'ani', nik: '3571024506900001', name: 'Ani Rahayu', birthdate: '1990-06-05' };
/** Someone with an unverified Kediri ID account (and its password) of the same name and birth date. */
const JOKO = { nik: '3571021508850008', name: 'Joko Susilo', birthdate: '1985-08-15', email: 'joko@example.id', password: 'jembatan-brawijaya-sore-hari' };

describeWithBrowser('Masuk dengan INApas on a phone, with Chromium', () => {
  let server: TestServer;
  let fake: FakeUpstream;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  let rp: oidc.Configuration;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [server, fake, rpPages, browser] = await Promise.all([
      startTestServer({ UPSTREAM_TIMEOUT_SECONDS: '2' }, { hostname: 'localhost' }),
      startFakeUpstream(),
      startRelyingPartyPages(),
      launchBrowser(),
    ]);
    await connectKediri(fake, server);
    fake.addPerson({ login: ANI.login, claims: { nik: ANI.nik, name: ANI.name, birthdate: ANI.birthdate }, acr: LOA3 });
    // INApas writes names in capitals: the same name for Kediri ID.
    fake.addPerson({ login: 'joko', claims: { nik: JOKO.nik, name: JOKO.name.toUpperCase(), birthdate: JOKO.birthdate }, acr: LOA3 });
    const { clientId, clientSecret } = await createWebClient(server.instance, {
      unit: 'dispendukcapil',
      name: 'Layanan Akta Kelahiran',
      redirectUris: [`${rpPages.origin}/callback`],
      postLogoutRedirectUris: [`${rpPages.origin}/signed-out`],
    });
    rp = await relyingParty(server.url, clientId, clientSecret);
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close(), fake?.close()]);
  });

  /** A fresh phone browser whose console, errors and CSP violations are recorded, and the form posts it sends to Kediri ID. */
  async function newPhone(): Promise<{ page: Page; watcher: Watcher; posts: string[] }> {
    const { context, watcher } = await newWatchedContext(browser, PHONE);
    contexts.push(context);
    const page = await context.newPage();
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().startsWith(server.url)) posts.push(new URL(request.url()).pathname);
    });
    return { page, watcher, posts };
  }

  /** The service's authorization request, asking for a verified identity. */
  const verifiedRequest = () =>
    authorizationRequest(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile', acr_values: VERIFIED });

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

  /** From Kediri ID's login page to INApas's, signed in there as `login`: back at Kediri ID. */
  async function viaInapas(page: Page, login: string) {
    await page.getByRole('link', { name: 'Masuk dengan INApas', exact: true }).click();
    await page.waitForURL((url) => url.origin === fake.issuer);
    expect(await page.title()).toBe('INApas');
    await page.getByLabel('ID INApas', { exact: true }).fill(login);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.waitForURL((url) => url.origin === server.url && url.pathname.endsWith('/hubungkan'));
  }

  /** Consent where Kediri ID asks for it, then the service's callback and its code exchange. */
  async function allowAndExchange(page: Page, watcher: Watcher, request: Awaited<ReturnType<typeof verifiedRequest>>) {
    const allow = page.getByRole('button', { name: 'Berikan akses', exact: true });
    await allow.or(page.getByText('Kembali di layanan.', { exact: true })).waitFor();
    if (await allow.isVisible()) await allow.click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    return oidc.authorizationCodeGrant(rp, callback, request.checks);
  }

  test('no account yet: INApas vouches, "Buat akun dan masuk" makes a verified account without a password, and the service gets acr verified, amr fed', async () => {
    const request = await verifiedRequest();
    const { page, watcher, posts } = await newPhone();

    await page.goto(request.url);
    await expect(heading(page)).resolves.toBe('Masuk ke Layanan Akta Kelahiran');
    await viaInapas(page, ANI.login);

    // Back at Kediri ID: the details INApas sent, to confirm; the NIK masked.
    expect(await page.title()).toBe('Buat akun Kediri ID – Kediri ID');
    await expect(heading(page)).resolves.toBe('Buat akun Kediri ID dengan INApas');
    const main = page.locator('main');
    await expect(main.textContent()).resolves.toContain(ANI.name);
    await expect(main.textContent()).resolves.toContain('3571 **** **** 0001');
    await expect(main.textContent()).resolves.not.toContain(ANI.nik);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    expect(await server.instance.citizens.findByNik(ANI.nik)).toBeUndefined();

    await page.getByRole('button', { name: 'Buat akun dan masuk', exact: true }).click();
    const tokens = await allowAndExchange(page, watcher, request);
    expect(tokens.claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect((await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).name).toBe(ANI.name);

    const citizen = (await server.instance.citizens.findByNik(ANI.nik))!;
    expect(citizen).toMatchObject({ name: ANI.name, birthdate: ANI.birthdate, assurance: 'verified' });
    // No password was typed at Kediri ID, and the account has none.
    expect(posts.filter((path) => path.endsWith('/login') || path.endsWith('/sandi'))).toEqual([]);
    expect(await server.instance.citizens.hasPassword(citizen.id)).toBe(false);
    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('an unverified account of the same person: its password links INApas ("Hubungkan"), the service gets acr verified, and the account is verified', async () => {
    const joko = await server.instance.citizens.create(JOKO, { actor: 'test', emailVerified: true });
    expect(joko.assurance).toBe('basic');
    const request = await verifiedRequest();
    const { page, watcher } = await newPhone();

    await page.goto(request.url);
    await viaInapas(page, 'joko');
    expect(await page.title()).toBe('Hubungkan akun – Kediri ID');
    await expect(heading(page)).resolves.toBe('Hubungkan INApas dengan akun Anda');
    await page.getByLabel('Kata sandi akun Kediri ID', { exact: true }).fill(JOKO.password);
    await page.getByRole('button', { name: 'Hubungkan dan masuk', exact: true }).click();

    const tokens = await allowAndExchange(page, watcher, request);
    expect(tokens.claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect((await server.instance.citizens.findById(joko.id))!.assurance).toBe('verified');
    expect(await server.instance.upstreamAccounts.links(joko.id)).toEqual([expect.objectContaining({ slug: 'inapas' })]);
    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('a national provider that is down: an error page in Indonesian, and "Masuk dengan cara lain" leads back to the login page', async () => {
    // INApas's configuration was discovered above and is kept for minutes: the provider that is
    // down is another one, whose address nothing listens on.
    await server.instance.upstreams.create(kediriUpstreamSettings('ikd', await closedAddress(), { label: 'IKD' }), 'test', '127.0.0.1');
    const request = await verifiedRequest();
    const { page, watcher } = await newPhone();

    await page.goto(request.url);
    const login = new URL(page.url()).pathname;
    await page.getByRole('link', { name: 'Masuk dengan IKD', exact: true }).click();
    await page.waitForURL((url) => url.pathname === `${login}/masuk-dengan/ikd`);
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('id');
    await expect(heading(page)).resolves.toBe('Masuk dengan IKD tidak berhasil');
    await expect(page.locator('main').textContent()).resolves.toContain('IKD tidak dapat dihubungi saat ini.');
    await expect(page.locator('main').textContent()).resolves.toContain('Tidak ada akun yang dibuat atau dihubungkan.');

    await page.getByRole('link', { name: 'Masuk dengan cara lain', exact: true }).click();
    await page.waitForURL((url) => url.pathname === login);
    await expect(heading(page)).resolves.toBe('Masuk ke Layanan Akta Kelahiran');
    expect(await page.getByLabel('Kata sandi', { exact: true }).isVisible()).toBe(true);
    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);
});
