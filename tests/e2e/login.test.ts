/**
 * The citizen's journey in a real browser (Debian's Chromium): a relying party sends the browser
 * to Kediri ID, the citizen signs in and allows (or denies) access, and the browser lands back at
 * the relying party, which exchanges the code. Elements are found the way a person finds them: by
 * label, role and accessible name.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, launchBrowser, newWatchedContext, type Watcher, describedBy, landAtCallback } from '../support/browser.js';
import { SITI, createCitizen, createWebClient, enrolTotp, totpCode } from '../support/fixtures.js';
import { authorizationRequest as requestAuthorization, relyingParty as discoverRelyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

const WRONG_PASSWORD = 'bukan-kata-sandi-siti';
const SCREENSHOT = '/tmp/kediri-id-login-360x740.png';


describeWithBrowser('a citizen signs in to a city service with Chromium', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  /** The sub the unit's services see: pairwise per unit, the same for each of this file's clients. */
  let sub: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [server, rpPages, browser] = await Promise.all([startTestServer(), startRelyingPartyPages(), launchBrowser()]);
    sub = pairwiseSubject(server.instance.sealer, 'dispendukcapil', (await createCitizen(server.instance)).id);
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close()]);
  });

  /** Its own client per test, so that no test sees another's grant. */
  async function relyingParty(name: string) {
    const { clientId, clientSecret } = await createWebClient(server.instance, {
      name,
      redirectUris: [`${rpPages.origin}/callback`],
      postLogoutRedirectUris: [`${rpPages.origin}/signed-out`],
    });
    return discoverRelyingParty(server.url, clientId, clientSecret);
  }

  const authorizationRequest = (rp: oidc.Configuration) =>
    requestAuthorization(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile email' });

  /** A fresh browser (no cookies) whose console, errors and CSP violations are recorded. */
  async function newBrowserPage(viewport?: { width: number; height: number }): Promise<{ page: Page; watcher: Watcher }> {
    const { context, watcher } = await newWatchedContext(browser, viewport ? { viewport } : {});
    contexts.push(context);
    return { page: await context.newPage(), watcher };
  }

  const htmlLang = (page: Page) => page.evaluate(() => document.documentElement.lang);



  /** Signs in on the login page and allows access, in Bahasa Indonesia; returns the callback URL. */
  async function signInAndAllow(page: Page, watcher: Watcher, authorizationUrl: string): Promise<URL> {
    await page.goto(authorizationUrl);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    return landAtCallback(page, watcher, rpPages.origin);
  }

  test('Bahasa Indonesia: a wrong password is explained, the right one signs in, consent is given, and the relying party gets an ID token for the citizen', async () => {
    const rp = await relyingParty('Layanan Akta Kelahiran');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage();

    await page.goto(request.url);
    expect(new URL(page.url()).origin).toBe(server.url);
    expect(await htmlLang(page)).toBe('id');
    expect(await page.title()).toBe('Masuk – Kediri ID');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Masuk ke Layanan Akta Kelahiran');

    const identifier = page.getByLabel('NIK, email atau nomor HP', { exact: true });
    const password = page.getByLabel('Kata sandi', { exact: true });
    await identifier.fill(SITI.nik);
    await password.fill(WRONG_PASSWORD);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('alert').waitFor();

    // The error summary, worded as in views/locales/id/login.json, links to the field at fault.
    const summary = page.getByRole('alert');
    await expect(summary.getByRole('heading').textContent()).resolves.toBe('Ada masalah');
    const summaryLink = summary.getByRole('link', { name: 'NIK/email/nomor HP atau kata sandi salah.', exact: true });
    expect(await summaryLink.getAttribute('href')).toBe('#identifier');
    // The field error is next to the field and read with it; the field is marked invalid.
    expect(await describedBy(page.getByLabel('NIK, email atau nomor HP', { exact: true }))).toBe(
      '16 angka NIK pada KTP-el, alamat email Anda, atau nomor HP yang sudah terverifikasi | Kesalahan: NIK/email/nomor HP atau kata sandi salah.',
    );
    expect(await identifier.getAttribute('aria-invalid')).toBe('true');
    expect(await identifier.isVisible()).toBe(true);
    // The citizen does not retype the NIK; the password is never sent back.
    expect(await identifier.inputValue()).toBe(SITI.nik);
    expect(await password.inputValue()).toBe('');
    expect(await page.content()).not.toContain(WRONG_PASSWORD);

    await password.fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();

    // Consent: who asks, who is signed in, and what the service gets.
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).waitFor();
    expect(await htmlLang(page)).toBe('id');
    expect(await page.title()).toBe('Berikan akses – Kediri ID');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Layanan Akta Kelahiran meminta akses ke akun Kediri ID Anda',
    );
    expect(await page.getByText('Anda masuk sebagai Siti Aminah.', { exact: true }).isVisible()).toBe(true);
    const granted = page.getByRole('list').filter({ hasText: 'Pengenal akun Anda' }).getByRole('listitem').locator('strong');
    expect(await granted.allTextContents()).toEqual(['Pengenal akun Anda', 'Nama lengkap, tanggal lahir, jenis kelamin', 'Email']);

    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);

    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    expect(tokens.claims()?.sub).toBe(sub);
    expect(tokens.claims()?.amr).toEqual(['pwd']);
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, sub);
    expect(userinfo).toMatchObject({ name: SITI.name, email: SITI.email });

    expect(watcher.problems()).toEqual([]);
  });

  test('English: the language link switches the login page to English and the whole flow completes in English', async () => {
    const rp = await relyingParty('Birth Certificates');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage();

    await page.goto(request.url);
    expect(await htmlLang(page)).toBe('id');
    const languageLink = page.getByRole('link', { name: 'English', exact: true });
    expect(await languageLink.getAttribute('lang')).toBe('en');
    await languageLink.click();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();

    expect(await htmlLang(page)).toBe('en');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in to Birth Certificates');
    // The way back to Bahasa Indonesia is offered, in Bahasa Indonesia.
    expect(await page.getByRole('link', { name: 'Bahasa Indonesia', exact: true }).getAttribute('lang')).toBe('id');

    await page.getByLabel('NIK, email or phone number', { exact: true }).fill(SITI.email);
    await page.getByLabel('Password', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    // The choice is remembered on the consent page.
    await page.getByRole('button', { name: 'Allow access', exact: true }).waitFor();
    expect(await htmlLang(page)).toBe('en');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Birth Certificates is asking for access to your Kediri ID account',
    );
    expect(await page.getByRole('button', { name: 'Deny', exact: true }).isVisible()).toBe(true);
    const granted = page.getByRole('list').filter({ hasText: 'Your account identifier' }).getByRole('listitem').locator('strong');
    expect(await granted.allTextContents()).toEqual(['Your account identifier', 'Full name, date of birth, sex', 'Email address']);

    await page.getByRole('button', { name: 'Allow access', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    expect(tokens.claims()?.sub).toBe(sub);

    expect(watcher.problems()).toEqual([]);
  });

  test('English after a failed attempt: the language link on the error page keeps the citizen in the sign-in', async () => {
    const rp = await relyingParty('Birth Certificates');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage();

    await page.goto(request.url);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(WRONG_PASSWORD);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('alert').waitFor();

    const [switched] = await Promise.all([
      page.waitForResponse((r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame()),
      page.getByRole('link', { name: 'English', exact: true }).click(),
    ]);
    await page.waitForURL(switched.url());
    expect({ status: switched.status(), lang: await htmlLang(page) }).toEqual({ status: 200, lang: 'en' });
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in to Birth Certificates');

    await page.getByLabel('NIK, email or phone number', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Password', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow access', exact: true }).click();
    await landAtCallback(page, watcher, rpPages.origin);
    expect(watcher.problems()).toEqual([]);
  });

  test('Deny: "Tolak" on the consent page sends the browser back to the relying party with access_denied', async () => {
    const rp = await relyingParty('Layanan Akta Kematian');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage();

    await page.goto(request.url);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Tolak', exact: true }).click();

    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);
    expect(callback.searchParams.has('code')).toBe(false);
    // The relying party's library reads it as the citizen's refusal.
    await expect(
      oidc.authorizationCodeGrant(rp, callback, request.checks),
    ).rejects.toMatchObject({ error: 'access_denied' });

    expect(watcher.problems()).toEqual([]);
  });

  test('A service that asks to confirm again (offline_access, prompt=consent): the consent page lists what it receives and says it is a confirmation, in both languages', async () => {
    const rp = await relyingParty('Layanan Akta Perkawinan');
    const stayConnected = (lang?: string) =>
      requestAuthorization(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile offline_access', prompt: 'consent', ...(lang && { ui_locales: lang }) });
    const receives = (page: Page, first: string) => page.getByRole('list').filter({ hasText: first }).getByRole('listitem').locator('strong').allTextContents();

    // The first time: everything is new.
    const first = await newBrowserPage({ width: 390, height: 844 });
    await signInAndAllow(first.page, first.watcher, (await stayConnected()).url);

    // Signed out (a new browser), then signing in again: the list is not empty, and says why it is shown.
    const { page, watcher } = await newBrowserPage({ width: 390, height: 844 });
    await page.goto((await stayConnected()).url);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).waitFor();
    expect(await page.getByText('Layanan Akta Perkawinan meminta Anda memberikannya lagi untuk konfirmasi', { exact: false }).isVisible()).toBe(true);
    await expect(page.getByRole('heading', { level: 2 }).first().textContent()).resolves.toBe('Jika Anda memberikan akses lagi, Layanan Akta Perkawinan tetap akan menerima:');
    expect(await receives(page, 'Pengenal akun Anda')).toEqual(['Pengenal akun Anda', 'Nama lengkap, tanggal lahir, jenis kelamin', 'Tetap terhubung']);
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    await landAtCallback(page, watcher, rpPages.origin);

    // And in English.
    await page.goto((await stayConnected('en')).url);
    await page.getByRole('button', { name: 'Allow access', exact: true }).waitFor();
    expect(await page.getByText('Layanan Akta Perkawinan asks you to confirm it by allowing access again', { exact: false }).isVisible()).toBe(true);
    expect(await receives(page, 'Your account identifier')).toEqual(['Your account identifier', 'Full name, date of birth, sex', 'Stay connected']);
    await page.getByRole('button', { name: 'Allow access', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(watcher.problems()).toEqual([]);
  });

  test('response_mode=form_post: the browser posts the code to the relying party (the CSP allows it)', async () => {
    const rp = await relyingParty('Layanan Akta Kelahiran');
    const request = await requestAuthorization(rp, {
      redirect_uri: `${rpPages.origin}/callback`,
      scope: 'openid',
      response_mode: 'form_post',
    });
    const { page, watcher } = await newBrowserPage();
    await signInAndAllow(page, watcher, request.url);

    const form = new URLSearchParams(rpPages.posted.at(-1));
    expect(form.get('state')).toBe(request.checks.expectedState);
    const callback = new Request(`${rpPages.origin}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    expect(tokens.claims()?.sub).toBe(sub);
    expect(watcher.problems()).toEqual([]);
  });

  test('Cancel on the login page sends the browser back to the relying party with access_denied', async () => {
    const rp = await relyingParty('Layanan Akta Kematian');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage();

    await page.goto(request.url);
    await page.getByRole('button', { name: 'Batal dan kembali ke Layanan Akta Kematian', exact: true }).click();

    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);
    expect(watcher.problems()).toEqual([]);
  });

  test('Back after a finished sign-in: the page says it is finished and links back to the service, or to /akun for Kediri ID\'s own pages', async () => {
    const rp = await relyingParty('Layanan Akta Kelahiran');
    const { page, watcher } = await newBrowserPage({ width: 390, height: 844 });
    await signInAndAllow(page, watcher, (await authorizationRequest(rp)).url);

    // Back to the consent page, then to the login page: both sign-ins are finished.
    for (let i = 0; i < 2; i++) {
      const shown = await page.goBack();
      expect(new URL(page.url()).pathname).toMatch(/^\/interaction\/[\w-]+$/);
      expect(shown?.status()).toBe(200);
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Proses masuk ini sudah selesai');
      expect(await page.getByText('Anda sudah selesai masuk ke Layanan Akta Kelahiran. Tidak perlu masuk lagi.', { exact: true }).isVisible()).toBe(true);
      expect(await page.getByText('Waktu untuk masuk sudah habis', { exact: false }).count()).toBe(0);
    }
    await page.getByRole('link', { name: 'Kembali ke Layanan Akta Kelahiran', exact: true }).click();
    await page.waitForURL(`${rpPages.origin}/`);

    // Kediri ID's own pages: back to the account page.
    const portal = await newBrowserPage({ width: 390, height: 844 });
    await portal.page.goto(`${server.url}/akun`);
    await portal.page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.email);
    await portal.page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await portal.page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await portal.page.waitForURL(`${server.url}/akun`);
    await portal.page.goBack();
    await expect(portal.page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Proses masuk ini sudah selesai');
    await portal.page.getByRole('link', { name: 'Kembali ke Akun Kediri ID', exact: true }).click();
    await portal.page.waitForURL(`${server.url}/akun`);

    expect(watcher.problems()).toEqual([]);
    expect(portal.watcher.problems()).toEqual([]);
  });

  test('Kediri ID\'s own pages: the sign-in names "Akun Kediri ID" (no unit) and offers no cancel, on the login, phone-code and second-factor pages', async () => {
    const budi = { nik: '3571010101850003', name: 'Budi Santoso', birthdate: '1985-01-01', email: 'budi@example.id', password: 'sepeda-ontel-di-jalan-dhoho' };
    await createCitizen(server.instance, budi);
    const secret = await enrolTotp(server.instance, budi.email);
    const { page, watcher } = await newBrowserPage({ width: 390, height: 844 });
    const noCancel = async () => expect(await page.getByRole('button', { name: /^Batal/ }).count()).toBe(0);

    await page.goto(`${server.url}/akun`);
    await page.getByRole('button', { name: 'Masuk', exact: true }).waitFor();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Masuk ke Akun Kediri ID');
    expect(await page.getByText('Diskominfo').count()).toBe(0);
    await noCancel();

    await page.getByRole('link', { name: 'Masuk dengan kode lewat WhatsApp/SMS', exact: true }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Masuk ke Akun Kediri ID dengan kode');
    await noCancel();
    await page.goBack();

    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(budi.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(budi.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    const code = page.getByLabel('Kode dari aplikasi autentikator', { exact: true });
    await code.waitFor();
    expect(await page.getByText('untuk masuk ke Akun Kediri ID.', { exact: false }).isVisible()).toBe(true);
    await noCancel();
    await code.fill(await totpCode(secret));
    await page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();
    await page.waitForURL((url) => url.origin === server.url && url.pathname === '/akun');

    // In English the portal is "your Kediri ID account".
    const english = await newBrowserPage({ width: 390, height: 844 });
    await english.page.goto(`${server.url}/akun?lang=en`);
    await expect(english.page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in to your Kediri ID account');
    expect(await english.page.getByRole('button', { name: /^Cancel/ }).count()).toBe(0);

    expect(watcher.problems()).toEqual([]);
    expect(english.watcher.problems()).toEqual([]);
  });

  test('Sign-out started by the relying party: the citizen confirms and lands on its signed-out page', async () => {
    const rp = await relyingParty('Layanan Akta Kelahiran');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage();
    const callback = await signInAndAllow(page, watcher, request.url);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);

    await page.goto(
      oidc
        .buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${rpPages.origin}/signed-out`, state: 'sampai-jumpa' })
        .toString(),
    );
    expect(await htmlLang(page)).toBe('id');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Keluar dari Kediri ID?');
    expect(await page.title()).toBe('Keluar – Kediri ID');
    await page.getByRole('button', { name: 'Keluar', exact: true }).click();
    await page.waitForURL((url) => url.origin === rpPages.origin && url.pathname === '/signed-out', { timeout: 10_000 });
    expect(new URL(page.url()).searchParams.get('state')).toBe('sampai-jumpa');

    // Signed out of Kediri ID too: the next sign-in asks for the password again.
    await page.goto((await authorizationRequest(rp)).url);
    expect(await page.getByLabel('Kata sandi', { exact: true }).isVisible()).toBe(true);
    expect(watcher.problems()).toEqual([]);
  });

  test('keyboard and phone: labelled fields, the skip link first, no sideways scrolling at 360 px', async () => {
    const rp = await relyingParty('Layanan Akta Kelahiran');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowserPage({ width: 360, height: 740 });
    await page.goto(request.url);
    await page.screenshot({ path: SCREENSHOT }); // looked at by a person, not compared

    // A phone: the page fits the width, and the sign-in button is on the first screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const signIn = await page.getByRole('button', { name: 'Masuk', exact: true }).boundingBox();
    expect(signIn).not.toBeNull();
    expect(signIn!.y + signIn!.height).toBeLessThanOrEqual(740);

    // Every field a citizen can fill has exactly one visible label (hidden fields aside).
    const fields = await page.evaluate(() =>
      [...document.forms]
        .flatMap((form) => [...form.elements])
        .filter((el): el is HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement =>
          ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && (el as HTMLInputElement).type !== 'hidden',
        )
        .map((el) => ({
          name: el.name,
          labels: [...(el.labels ?? [])].map((l) => ({ text: l.textContent?.trim(), visible: l.checkVisibility() })),
        })),
    );
    expect(fields).toEqual([
      { name: 'identifier', labels: [{ text: 'NIK, email atau nomor HP', visible: true }] },
      { name: 'password', labels: [{ text: 'Kata sandi', visible: true }] },
    ]);
    expect(await page.getByLabel('NIK, email atau nomor HP', { exact: true }).getAttribute('autocomplete')).toBe('username');
    expect(await page.getByLabel('Kata sandi', { exact: true }).getAttribute('type')).toBe('password');
    expect(await describedBy(page.getByLabel('NIK, email atau nomor HP', { exact: true }))).toBe('16 angka NIK pada KTP-el, alamat email Anda, atau nomor HP yang sudah terverifikasi');

    // The first Tab reaches the skip link, which is then visible; it leads straight to the form.
    await page.keyboard.press('Tab');
    const skipLink = page.getByRole('link', { name: 'Langsung ke konten utama', exact: true });
    expect(await skipLink.evaluate((el) => el === document.activeElement)).toBe(true);
    const box = await skipLink.boundingBox();
    expect(box && box.x >= 0 && box.y >= 0 && box.width > 0).toBe(true);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    expect(await page.getByLabel('NIK, email atau nomor HP', { exact: true }).evaluate((el) => el === document.activeElement)).toBe(true);

    expect(watcher.problems()).toEqual([]);
  });
});
