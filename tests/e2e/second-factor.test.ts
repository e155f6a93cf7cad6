/**
 * Two-step verification in a real browser (Debian's Chromium): the citizen turns on a TOTP app
 * from the account page (the test is the app: it computes codes with otplib from the secret key
 * the page shows), signs out, and signs in at a relying party that asks for
 * urn:kediri:acr:verified-mfa with the password and a code; the ID token proves the second factor.
 * Then a recovery code works once, in one fresh browser, and is refused in the next. Elements are
 * found the way a person finds them: by label, role and accessible name, with the texts of
 * views/locales/id.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { describeWithBrowser, launchBrowser, newWatchedContext, type Watcher, describedBy, landAtCallback } from '../support/browser.js';
import { SITI, createWebClient, totpCode } from '../support/fixtures.js';
import { emailsTo } from '../support/mail.js';
import { authorizationRequest as requestAuthorization, relyingParty as discoverRelyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

const MFA = 'urn:kediri:acr:verified-mfa';
/** Each journey hashes and checks passwords (argon2) and loads a dozen pages: room for a busy CI machine. */
const JOURNEY_TIMEOUT = 120_000;

const SECOND_FACTOR_HINT =
  '6 angka dari aplikasi autentikator Anda. Tidak punya ponsel Anda? Masukkan salah satu kode pemulihan.';
/** One label for the code at setup and at sign-in. */
const CODE_LABEL = 'Kode dari aplikasi autentikator';
const SECOND_FACTOR_HEADING = 'Masukkan kode dari aplikasi autentikator';
const SECOND_FACTOR_INVALID =
  'Kode salah, sudah dipakai, atau sudah kedaluwarsa. Masukkan kode terbaru dari aplikasi autentikator, atau salah satu kode pemulihan.';


describeWithBrowser('a citizen turns on two-step verification and signs in with a code, with Chromium', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  /** The sub Bank Jatim's services see: pairwise per unit, the same at every login. */
  let sub: string;
  let rp: oidc.Configuration;
  const contexts: BrowserContext[] = [];

  /** What the first journey leaves for the next ones: the enrolled browser and what the citizen wrote down. */
  let enrolled: { page: Page; watcher: Watcher } | undefined;
  /** The secret key as shown on the page, without its spaces (base32). */
  let secret = '';
  let recoveryCodes: string[] = [];

  beforeAll(async () => {
    [server, rpPages, browser] = await Promise.all([startTestServer(), startRelyingPartyPages(), launchBrowser()]);
    // Identity verified at the counter: with a second factor, the account reaches verified-mfa.
    const citizenId = (await server.instance.citizens.create(SITI, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' })).id;
    sub = pairwiseSubject(server.instance.sealer, 'bank-jatim', citizenId);
    const { clientId, clientSecret } = await createWebClient(server.instance, {
      name: 'Bank Jatim Online',
      unit: 'bank-jatim',
      redirectUris: [`${rpPages.origin}/callback`],
    });
    rp = await discoverRelyingParty(server.url, clientId, clientSecret);
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close()]);
  });

  /** A fresh browser (no cookies) whose console, errors and CSP violations are recorded; `options`: e.g. a phone's screen. */
  async function newBrowser(options: BrowserContextOptions = {}): Promise<{ page: Page; watcher: Watcher }> {
    const { context, watcher } = await newWatchedContext(browser, options);
    contexts.push(context);
    return { page: await context.newPage(), watcher };
  }

  /** What the authenticator app shows (tests/support/fixtures.ts totpCode: each time step once). */
  async function authenticatorCode(): Promise<string> {
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    return totpCode(secret);
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();



  /** The relying party asks for verified-mfa (and for consent): its authorization request. */
  const mfaRequest = () =>
    requestAuthorization(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile', acr_values: MFA, prompt: 'consent' });

  /** The password step on the login page; the account has a TOTP app, so the next page asks for a code. */
  async function passwordStep(page: Page): Promise<Locator> {
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: SECOND_FACTOR_HEADING, exact: true }).waitFor();
    expect(await page.title()).toBe('Verifikasi dua langkah – Kediri ID');
    const code = page.getByLabel(CODE_LABEL, { exact: true });
    expect(await describedBy(code)).toBe(SECOND_FACTOR_HINT);
    expect(await code.getAttribute('autocomplete')).toBe('one-time-code');
    return code;
  }

  /** Consent, then the code exchange at the relying party; returns the ID token's claims. */
  async function allowAndExchange(page: Page, watcher: Watcher, request: Awaited<ReturnType<typeof mfaRequest>>) {
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).waitFor();
    await expect(heading(page)).resolves.toBe('Bank Jatim Online meminta akses ke akun Kediri ID Anda');
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    return tokens.claims()!;
  }

  test('enrolment on a phone (390x844): /akun asks for the sign-in, "Pasang aplikasi autentikator" shows a QR code, a link that opens the app and the secret key, and a way back; a code from the app turns it on and ten recovery codes are shown, to copy or print', async () => {
    // The phone the app is on: it cannot scan its own screen. Copying needs the clipboard.
    const { page, watcher } = await newBrowser({ viewport: { width: 390, height: 844 }, permissions: ['clipboard-read', 'clipboard-write'] });

    // The account page sends the browser through the Kediri ID sign-in.
    await page.goto(`${server.url}/akun`);
    await page.getByRole('button', { name: 'Masuk', exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\/[A-Za-z0-9_-]+$/);
    await expect(heading(page)).resolves.toBe('Masuk ke Akun Kediri ID');
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.waitForURL((url) => url.origin === server.url && url.pathname === '/akun');
    expect(await page.title()).toBe('Akun saya – Kediri ID');
    await expect(heading(page)).resolves.toBe(`Akun Kediri ID: ${SITI.name}`);
    expect(await page.getByText('Belum dipasang.', { exact: true }).isVisible()).toBe(true);

    // The setup page has a way back to the account page; the way there again shows the same secret.
    const setupLink = page.getByRole('link', { name: 'Pasang aplikasi autentikator', exact: true });
    await setupLink.click();
    await page.waitForURL((url) => url.pathname === '/akun/dua-langkah');
    const firstSecret = (await page.locator('#secret').textContent())!;
    await page.getByRole('link', { name: 'Kembali ke akun saya', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/akun');
    await expect(heading(page)).resolves.toBe(`Akun Kediri ID: ${SITI.name}`);
    const [setup] = await Promise.all([
      page.waitForResponse((r) => r.request().isNavigationRequest() && new URL(r.url()).pathname === '/akun/dua-langkah'),
      setupLink.click(),
    ]);
    // The page holds the secret (QR code, link, text): no copy of it is kept by the browser or a proxy.
    expect(setup.headers()['cache-control']).toBe('no-store');
    await page.waitForURL((url) => url.pathname === '/akun/dua-langkah');
    expect(await page.locator('#secret').textContent()).toBe(firstSecret);
    expect(await page.title()).toBe('Verifikasi dua langkah – Kediri ID');
    await expect(heading(page)).resolves.toBe('Aktifkan verifikasi dua langkah');

    // The QR code: an inline SVG, drawn and shown (the CSP allows it; the watcher says so at the end).
    const qr = page.getByRole('figure', { name: 'Kode QR untuk aplikasi autentikator', exact: true });
    const svg = qr.locator('svg');
    expect(await svg.count()).toBe(1);
    const qrBox = await svg.boundingBox();
    expect(qrBox && qrBox.width >= 100 && qrBox.height >= 100).toBe(true);

    // The secret key, for typing into the app, follows the sentence that introduces it.
    await page.getByText('Tidak bisa memindai? Ketik kunci rahasia ini di aplikasi:', { exact: true }).waitFor();
    const shown = page.getByRole('main').getByRole('code');
    expect(await shown.count()).toBe(1);
    const secretText = (await shown.textContent())!.trim();
    expect(secretText).toMatch(/^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$/);
    secret = secretText.replace(/\s/g, '');

    // On the phone with the app: a link opens it with the account (the otpauth URI of the QR code).
    // Not followed here: Chromium has no app for otpauth.
    const openApp = page.getByRole('link', { name: 'Buka di aplikasi autentikator', exact: true });
    const href = (await openApp.getAttribute('href'))!;
    expect(href.startsWith('otpauth://totp/')).toBe(true);
    const uri = new URL(href);
    expect(uri.searchParams.get('issuer')).toBe('Kediri ID');
    expect(uri.searchParams.get('secret')).toBe(secret);
    const openBox = (await openApp.boundingBox())!;
    expect(openBox.x >= 0 && openBox.x + openBox.width <= 390).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    // The code the app shows, typed in; the page answers with the recovery codes.
    // The same words as on the sign-in page (passwordStep).
    const codeField = page.getByLabel(CODE_LABEL, { exact: true });
    expect(await codeField.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await codeField.getAttribute('inputmode')).toBe('numeric');
    await codeField.fill(await authenticatorCode());
    await page.getByLabel('Kata sandi Kediri ID Anda', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Aktifkan', exact: true }).click();

    await page.getByRole('heading', { level: 1, name: 'Simpan kode pemulihan Anda', exact: true }).waitFor();
    expect(await page.title()).toBe('Kode pemulihan – Kediri ID');
    await expect(page.getByRole('status').textContent()).resolves.toContain('Verifikasi dua langkah sudah aktif.');
    const codes = page.getByRole('list').filter({ has: page.getByRole('code') }).getByRole('listitem');
    recoveryCodes = (await codes.allTextContents()).map((c) => c.trim());
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}$/);

    // Copy puts the codes on the clipboard, one a line, and says so; print is offered beside it.
    await page.getByRole('button', { name: 'Salin kode', exact: true }).click();
    await page.getByText('Disalin', { exact: true }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${recoveryCodes.join('\n')}\n`);
    expect(await page.getByRole('button', { name: 'Cetak kode', exact: true }).isVisible()).toBe(true);

    // Back on the account page, two-step verification is on.
    await page.getByRole('link', { name: 'Kembali ke akun saya', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/akun');
    expect(await page.getByText('Aktif.', { exact: true }).isVisible()).toBe(true);
    expect(await page.getByText('Sisa 10 kode yang belum dipakai.', { exact: true }).isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: 'Pasang aplikasi autentikator', exact: true }).count()).toBe(0);

    expect(watcher.problems()).toEqual([]);
    enrolled = { page, watcher };
  }, JOURNEY_TIMEOUT);

  test('after "Keluar dari halaman akun", a relying party asking for verified-mfa gets the password, then a code from the app, and an ID token with acr verified-mfa and amr pwd+otp', async () => {
    if (!enrolled) throw new Error('the enrolment journey did not finish; this one continues in its browser');
    const { page, watcher } = enrolled;

    await page.getByRole('button', { name: 'Keluar dari halaman akun', exact: true }).click();
    await page.waitForURL((url) => url.origin === server.url && url.pathname === '/');

    const request = await mfaRequest();
    await page.goto(request.url);
    await page.getByRole('button', { name: 'Masuk', exact: true }).waitFor();
    await expect(heading(page)).resolves.toBe('Masuk ke Bank Jatim Online');
    const code = await passwordStep(page);
    await expect(page.getByRole('paragraph').filter({ hasText: 'Akun Anda memakai verifikasi dua langkah.' }).textContent()).resolves.toBe(
      'Akun Anda memakai verifikasi dua langkah. Masukkan kode dari aplikasi autentikator untuk masuk ke Bank Jatim Online.',
    );
    await code.fill(await authenticatorCode());
    await page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();

    const claims = await allowAndExchange(page, watcher, request);
    expect(claims).toMatchObject({ sub, acr: MFA, amr: ['pwd', 'otp'] });

    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('a recovery code instead of the app signs in once (in a fresh browser); in the next browser the same code is refused with the error message', async () => {
    expect(recoveryCodes).toHaveLength(10);
    const recoveryCode = recoveryCodes[3]!;
    const mailsBefore = await emailsTo(server.instance.db, SITI.email);

    // A second browser: password, then the recovery code on the OTP page.
    {
      const { page, watcher } = await newBrowser();
      const request = await mfaRequest();
      await page.goto(request.url);
      const code = await passwordStep(page);
      await code.fill(recoveryCode);
      await page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();
      const claims = await allowAndExchange(page, watcher, request);
      expect(claims).toMatchObject({ sub, acr: MFA, amr: ['pwd', 'otp'] });
      expect(watcher.problems()).toEqual([]);
    }
    // The citizen is told by email that a recovery code was used.
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mailsBefore + 1);

    // A third browser: the same recovery code again is refused, and the citizen is told why.
    {
      const { page, watcher } = await newBrowser();
      const request = await mfaRequest();
      await page.goto(request.url);
      const code = await passwordStep(page);
      await code.fill(recoveryCode);
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame()),
        page.getByRole('button', { name: 'Lanjutkan', exact: true }).click(),
      ]);
      expect(answer.status()).toBe(400);
      await page.getByRole('alert').waitFor();
      await expect(heading(page)).resolves.toBe(SECOND_FACTOR_HEADING);

      const summary = page.getByRole('alert');
      await expect(summary.getByRole('heading').textContent()).resolves.toBe('Ada masalah');
      expect(await summary.getByRole('link').allTextContents()).toEqual([SECOND_FACTOR_INVALID]);
      expect(await summary.getByRole('link', { name: SECOND_FACTOR_INVALID, exact: true }).getAttribute('href')).toBe('#code');
      const field = page.getByLabel(CODE_LABEL, { exact: true });
      expect(await describedBy(field)).toBe(`${SECOND_FACTOR_HINT} | Kesalahan: ${SECOND_FACTOR_INVALID}`);
      expect(await field.getAttribute('aria-invalid')).toBe('true');
      expect(await field.inputValue()).toBe('');
      // Still at Kediri ID: nothing reached the relying party.
      expect(new URL(page.url()).origin).toBe(server.url);
      expect(watcher.problems()).toEqual([]);
    }
  }, JOURNEY_TIMEOUT);
});
