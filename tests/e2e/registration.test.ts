/**
 * Registration and password reset in a real browser (Debian's Chromium), each from a relying
 * party's authorization request: the person follows "Daftar" or "Lupa kata sandi?" on the login
 * page, reads the email on /dev/mail (a person trying Kediri ID locally), follows its link, and
 * ends signed in at the relying party, which exchanges the code. Elements are found the way a
 * person finds them: by label, role and accessible name, with the texts of views/locales/id.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { describeWithBrowser, launchBrowser, newWatchedContext, type Watcher, describedBy, landAtCallback } from '../support/browser.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest as requestAuthorization, relyingParty as discoverRelyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

/**
 * A made-up but structurally valid NIK (checked with checkNik): Kota Kediri (3571), kecamatan 02,
 * a woman (57 = 17 + 40) born 17 August 1992, serial 0004.
 */
const DEWI = {
  nik: '3571025708920004',
  name: 'Dewi Lestari',
  day: '17',
  month: '8',
  year: '1992',
  birthdate: '1992-08-17',
  email: 'dewi.lestari@example.id',
  phone: '0812-3456-7890',
  password: 'perahu-kertas-di-sungai-brantas',
};
/** The same NIK with one digit mistyped: it says 18 August 1992, not the date Dewi enters. */
const DEWI_NIK_TYPO = '3571025808920004';

const SITI_NEW_PASSWORD = 'layang-layang-di-atas-gunung-klotok';

const VERIFY_SUBJECT = 'Verifikasi email Kediri ID Anda / Verify your Kediri ID email';
/** Each journey hashes and checks several passwords (argon2) and loads a dozen pages: room for a busy CI machine. */
const JOURNEY_TIMEOUT = 120_000;

const RESET_SUBJECT = 'Atur ulang kata sandi Kediri ID / Reset your Kediri ID password';

const MISMATCH =
  'Tanggal lahir pada NIK tidak cocok dengan tanggal lahir yang Anda isi. Periksa kembali NIK dan tanggal lahir Anda.';
const PASSWORD_COMMON =
  'Kata sandi ini terlalu umum dan mudah ditebak. Gunakan frasa yang lebih panjang, misalnya beberapa kata yang hanya Anda ketahui.';
const PASSWORD_HINT =
  'Paling sedikit 8 karakter. Gunakan beberapa kata yang mudah Anda ingat tetapi sulit ditebak orang lain. Jangan gunakan NIK atau tanggal lahir.';


describeWithBrowser('a new citizen registers, and a citizen resets a forgotten password, with Chromium', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // DEV_MAIL: /dev/mail exists on PostgreSQL runs too (it is on by default only with PGlite).
    [server, rpPages, browser] = await Promise.all([
      startTestServer({ DEV_MAIL: 'true' }),
      startRelyingPartyPages(),
      launchBrowser(),
    ]);
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
    });
    return discoverRelyingParty(server.url, clientId, clientSecret);
  }

  const authorizationRequest = (rp: oidc.Configuration) =>
    requestAuthorization(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile email phone' });

  /** A fresh browser (no cookies) whose console, errors and CSP violations are recorded. */
  async function newBrowser(): Promise<{ context: BrowserContext; page: Page; watcher: Watcher }> {
    const { context, watcher } = await newWatchedContext(browser);
    contexts.push(context);
    return { context, page: await context.newPage(), watcher };
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();



  /**
   * Opens /dev/mail (the local outbox page) and finds the one message with this subject to this
   * address: a section named by its subject heading.
   */
  async function openMessage(page: Page, to: string, subject: string): Promise<Locator> {
    await page.goto(`${server.url}/dev/mail`);
    expect(await page.title()).toBe('Kotak keluar – Kediri ID');
    await expect(heading(page)).resolves.toBe('Kotak keluar (uji coba lokal)');
    const message = page
      .getByRole('region', { name: subject, exact: true })
      .filter({ has: page.getByRole('definition').filter({ hasText: new RegExp(`^${to.replace(/[.]/g, '\\.')}$`) }) });
    expect(await message.count()).toBe(1);
    return message;
  }

  /** Signs in on the login page with an identifier and a password (nothing else). */
  async function signIn(page: Page, identifier: string, password: string): Promise<void> {
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(identifier);
    await page.getByLabel('Kata sandi', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
  }

  test('registration: from the login page to "Daftar", a NIK that does not match the birth date is explained, the email is verified by its link, and "Lanjut masuk" returns to the sign-in, which ends at the relying party', async () => {
    const rp = await relyingParty('Layanan Akta Kelahiran');
    const request = await authorizationRequest(rp);
    const { page, watcher } = await newBrowser();

    // The relying party sends the browser to the login page; no account yet: "Daftar".
    await page.goto(request.url);
    expect(new URL(page.url()).origin).toBe(server.url);
    await expect(heading(page)).resolves.toBe('Masuk ke Layanan Akta Kelahiran');
    const loginPage = page.url();
    expect(new URL(loginPage).pathname).toMatch(/^\/interaction\/[A-Za-z0-9_-]+$/);
    await page.getByRole('link', { name: 'Daftar', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/daftar');
    expect(await page.title()).toBe('Daftar – Kediri ID');
    await expect(heading(page)).resolves.toBe('Daftar akun Kediri ID');

    // The form, filled by its labels; the NIK has a mistyped birth date.
    const nik = page.getByLabel('NIK', { exact: true });
    const name = page.getByLabel('Nama lengkap', { exact: true });
    const birthdate = page.getByRole('group', { name: 'Tanggal lahir', exact: true });
    const day = birthdate.getByLabel('Tanggal', { exact: true });
    const month = birthdate.getByLabel('Bulan', { exact: true });
    const year = birthdate.getByLabel('Tahun', { exact: true });
    const email = page.getByLabel('Email', { exact: true });
    const phone = page.getByLabel('Nomor HP', { exact: true });
    const password = page.getByLabel('Kata sandi', { exact: true });
    const passwordConfirm = page.getByLabel('Ulangi kata sandi', { exact: true });
    const privacy = page.getByRole('checkbox', { name: 'Saya sudah membaca dan menyetujui pemberitahuan privasi (membuka tab baru)', exact: true });
    const register = page.getByRole('button', { name: 'Daftar', exact: true });

    await nik.fill(DEWI_NIK_TYPO);
    await name.fill(DEWI.name);
    await day.fill(DEWI.day);
    await month.fill(DEWI.month);
    await year.fill(DEWI.year);
    await email.fill(DEWI.email);
    await phone.fill(DEWI.phone);
    await password.fill(DEWI.password);
    await passwordConfirm.fill(DEWI.password);
    await privacy.check();
    await register.click();
    await page.getByRole('alert').waitFor();

    // The error summary links to the NIK; the message is next to the field and read with it.
    const summary = page.getByRole('alert');
    await expect(summary.getByRole('heading').textContent()).resolves.toBe('Ada masalah');
    expect(await summary.getByRole('link').allTextContents()).toEqual([MISMATCH]);
    expect(await summary.getByRole('link', { name: MISMATCH, exact: true }).getAttribute('href')).toBe('#nik');
    expect(await describedBy(nik)).toBe(`16 angka pada KTP-el Anda | Kesalahan: ${MISMATCH}`);
    expect(await nik.getAttribute('aria-invalid')).toBe('true');
    // What was typed is kept, except the passwords, which are never sent back.
    expect({
      nik: await nik.inputValue(),
      name: await name.inputValue(),
      day: await day.inputValue(),
      month: await month.inputValue(),
      year: await year.inputValue(),
      email: await email.inputValue(),
      phone: await phone.inputValue(),
      privacy: await privacy.isChecked(),
      password: await password.inputValue(),
      passwordConfirm: await passwordConfirm.inputValue(),
    }).toEqual({
      nik: DEWI_NIK_TYPO,
      name: DEWI.name,
      day: DEWI.day,
      month: DEWI.month,
      year: DEWI.year,
      email: DEWI.email,
      phone: DEWI.phone,
      privacy: true,
      password: '',
      passwordConfirm: '',
    });
    expect(await page.content()).not.toContain(DEWI.password);
    expect(await server.instance.citizens.findByEmail(DEWI.email)).toBeFalsy();

    // Corrected: the right NIK, and the passwords again; the email alone this time (the phone is optional).
    await nik.fill(DEWI.nik);
    await phone.fill('');
    await password.fill(DEWI.password);
    await passwordConfirm.fill(DEWI.password);
    await register.click();
    await page.waitForURL((url) => url.pathname === '/verifikasi');
    expect(await page.title()).toBe('Verifikasi email – Kediri ID');
    await expect(heading(page)).resolves.toBe('Periksa email Anda');
    await expect(page.getByRole('status').textContent()).resolves.toContain(
      'Kami telah mengirim email berisi tautan dan kode verifikasi ke d***@example.id.',
    );
    const account = await server.instance.citizens.findByEmail(DEWI.email);
    expect(account).toMatchObject({ name: DEWI.name, email_verified: false });

    // The email, on /dev/mail in the same browser: its link opens a page with a button.
    const message = await openMessage(page, DEWI.email, VERIFY_SUBJECT);
    expect(await message.textContent()).not.toContain(DEWI.nik);
    const links = message.getByRole('link');
    expect(await links.count()).toBe(1);
    expect(await links.getAttribute('href')).toMatch(new RegExp(`^${server.url}/verifikasi\\?token=`));
    await links.click();
    await page.waitForURL((url) => url.pathname === '/verifikasi' && url.searchParams.has('token'));
    await expect(heading(page)).resolves.toBe('Verifikasi email Anda');
    // Opening the link alone verifies nothing (mail scanners open links too).
    expect((await server.instance.citizens.findByEmail(DEWI.email))!.email_verified).toBe(false);
    await page.getByRole('button', { name: 'Verifikasi email saya', exact: true }).click();

    await page.getByRole('heading', { name: 'Email Anda sudah terverifikasi', exact: true }).waitFor();
    expect(await page.title()).toBe('Email terverifikasi – Kediri ID');
    expect((await server.instance.citizens.findByEmail(DEWI.email))!.email_verified).toBe(true);

    // "Lanjut masuk" returns to the login page of the same authorization request.
    await page.getByRole('button', { name: 'Lanjut masuk', exact: true }).click();
    await page.waitForURL(loginPage);
    await expect(heading(page)).resolves.toBe('Masuk ke Layanan Akta Kelahiran');
    await signIn(page, DEWI.email, DEWI.password);

    // Consent, for the new account, with what the relying party asked for.
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).waitFor();
    expect(await page.getByText('Anda masuk sebagai Dewi Lestari.', { exact: true }).isVisible()).toBe(true);
    const granted = page.getByRole('list').filter({ hasText: 'Pengenal akun Anda' }).getByRole('listitem').locator('strong');
    expect(await granted.allTextContents()).toEqual(['Pengenal akun Anda', 'Nama lengkap, tanggal lahir, jenis kelamin', 'Email', 'Nomor HP']);
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();

    const callback = await landAtCallback(page, watcher, rpPages.origin);
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    // The unit's services know the new account by its pairwise sub.
    const sub = pairwiseSubject(server.instance.sealer, 'dispendukcapil', account!.id);
    expect(tokens.claims()?.sub).toBe(sub);
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, sub);
    expect(userinfo).toMatchObject({
      sub,
      name: DEWI.name,
      email: DEWI.email,
      email_verified: true,
      // From the NIK: 57 = 17 + 40, a woman.
      birthdate: DEWI.birthdate,
      gender: 'female',
    });
    // Registered without a phone: the phone scope has nothing to give.
    expect(userinfo.phone_number).toBeUndefined();

    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('password reset: from the login page to "Lupa kata sandi?", the emailed link sets a new password (a too common one is refused), the old password stops working and the new one signs in; the link works once', async () => {
    const citizenId = (await createCitizen(server.instance)).id;
    const rp = await relyingParty('Layanan Akta Kematian');
    const request = await authorizationRequest(rp);
    const { context, page, watcher } = await newBrowser();

    await page.goto(request.url);
    await expect(heading(page)).resolves.toBe('Masuk ke Layanan Akta Kematian');
    const loginPage = page.url();
    await page.getByRole('link', { name: 'Lupa kata sandi?', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/lupa-sandi');
    expect(await page.title()).toBe('Lupa kata sandi – Kediri ID');
    await expect(heading(page)).resolves.toBe('Lupa kata sandi?');
    await page.getByLabel('Email atau nomor HP', { exact: true }).fill(SITI.email);
    await page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();
    await page.getByRole('heading', { name: 'Periksa email Anda', exact: true }).waitFor();
    expect(await page.title()).toBe('Periksa email Anda – Kediri ID');

    // The email, read in another tab of the same browser: its link opens the new-password form.
    const mail = await context.newPage();
    const message = await openMessage(mail, SITI.email, RESET_SUBJECT);
    const link = message.getByRole('link');
    expect(await link.count()).toBe(1);
    const resetLink = (await link.getAttribute('href'))!;
    expect(resetLink).toMatch(new RegExp(`^${server.url}/lupa-sandi/atur\\?token=`));
    await link.click();
    await mail.waitForURL(resetLink);
    expect(await mail.title()).toBe('Buat kata sandi baru – Kediri ID');
    await expect(heading(mail)).resolves.toBe('Buat kata sandi baru');

    // A too common password is refused, with the reason next to the field.
    const newPassword = mail.getByLabel('Kata sandi baru', { exact: true });
    const confirmPassword = mail.getByLabel('Ulangi kata sandi baru', { exact: true });
    const save = mail.getByRole('button', { name: 'Simpan kata sandi baru', exact: true });
    await newPassword.fill('password123');
    await confirmPassword.fill('password123');
    await save.click();
    await mail.getByRole('alert').waitFor();
    const summary = mail.getByRole('alert');
    await expect(summary.getByRole('heading').textContent()).resolves.toBe('Ada masalah');
    expect(await summary.getByRole('link', { name: PASSWORD_COMMON, exact: true }).getAttribute('href')).toBe('#password');
    expect(await describedBy(newPassword)).toBe(`${PASSWORD_HINT} | Kesalahan: ${PASSWORD_COMMON}`);
    expect(await newPassword.getAttribute('aria-invalid')).toBe('true');
    expect({ password: await newPassword.inputValue(), confirm: await confirmPassword.inputValue() }).toEqual({ password: '', confirm: '' });
    // Nothing changed: the old password still works.
    expect(await server.instance.citizens.authenticate(SITI.email, SITI.password)).toBeTruthy();

    await newPassword.fill(SITI_NEW_PASSWORD);
    await confirmPassword.fill(SITI_NEW_PASSWORD);
    await save.click();
    await mail.getByRole('heading', { name: 'Kata sandi Anda sudah diubah', exact: true }).waitFor();
    expect(await mail.title()).toBe('Kata sandi sudah diubah – Kediri ID');

    // Back in the first tab: the back button leads to the login page of the same request.
    await page.goBack();
    await page.waitForURL((url) => url.pathname === '/lupa-sandi');
    await page.goBack();
    await page.waitForURL(loginPage);
    await expect(heading(page)).resolves.toBe('Masuk ke Layanan Akta Kematian');

    // The old password no longer works.
    await signIn(page, SITI.email, SITI.password);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').getByRole('link').allTextContents()).toEqual(['NIK/email/nomor HP atau kata sandi salah.']);

    // The new one does, all the way to the relying party.
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI_NEW_PASSWORD);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    expect(tokens.claims()?.sub).toBe(pairwiseSubject(server.instance.sealer, 'dispendukcapil', citizenId));

    // The reset link works once: opened again from the email, it is no longer valid.
    const again = await openMessage(mail, SITI.email, RESET_SUBJECT);
    const [response] = await Promise.all([
      mail.waitForResponse((r) => r.request().isNavigationRequest() && r.url() === resetLink),
      again.getByRole('link').click(),
    ]);
    expect(response.status()).toBe(400);
    await expect(heading(mail)).resolves.toBe('Tautan tidak berlaku lagi');
    expect(await mail.title()).toBe('Tautan tidak berlaku lagi – Kediri ID');
    expect(await mail.getByRole('link', { name: 'Minta tautan baru', exact: true }).getAttribute('href')).toBe('/lupa-sandi');

    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('on a phone, what was typed survives the language link (the passwords do not) and the privacy notice, which opens in a new tab; over-long values get their fields\' messages with the rest kept', async () => {
    const { context, watcher } = await newWatchedContext(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${server.url}/daftar`);
    const GROUPED_NIK = '3571 0257 0892 0004';
    await page.getByLabel('NIK', { exact: true }).fill(GROUPED_NIK);
    await page.getByLabel('Nama lengkap', { exact: true }).fill(DEWI.name);
    await page.getByLabel('Email', { exact: true }).fill(DEWI.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(DEWI.password);

    // The privacy notice opens beside the form, which stays as it was.
    const privacyLink = page.getByRole('link', { name: 'pemberitahuan privasi (membuka tab baru)', exact: true });
    const [notice] = await Promise.all([context.waitForEvent('page'), privacyLink.click()]);
    await notice.waitForLoadState();
    expect(new URL(notice.url()).pathname).toBe('/privasi');
    await notice.close();
    expect(await page.getByLabel('Nama lengkap', { exact: true }).inputValue()).toBe(DEWI.name);
    await page.getByRole('checkbox').check();

    // The other language: the same values, the password empty.
    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('lang') === 'en');
    await expect(heading(page)).resolves.not.toBe('Daftar akun Kediri ID');
    expect(await page.getByLabel('NIK', { exact: true }).inputValue()).toBe(GROUPED_NIK);
    expect(await page.getByLabel('Full name', { exact: true }).inputValue()).toBe(DEWI.name);
    expect(await page.getByLabel('Email', { exact: true }).inputValue()).toBe(DEWI.email);
    expect(await page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    expect(await page.getByRole('checkbox').isChecked()).toBe(true);
    // Once: a reload shows the page as the server sends it.
    await page.reload();
    expect(await page.getByLabel('Full name', { exact: true }).inputValue()).toBe('');

    // A pasted name far too long: its own message, the other values back.
    await page.getByLabel('NIK', { exact: true }).fill(GROUPED_NIK);
    await page.getByLabel('Full name', { exact: true }).fill('Dewi '.repeat(1000));
    await page.getByLabel('Email', { exact: true }).fill(DEWI.email);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').getByRole('link').allTextContents()).toContain(
      "Full name must be 2 to 100 letters, as on the KTP-el (spaces and the marks . , ' - are allowed, no digits).",
    );
    expect(await page.getByLabel('NIK', { exact: true }).inputValue()).toBe(GROUPED_NIK);
    expect(await page.getByLabel('Email', { exact: true }).inputValue()).toBe(DEWI.email);

    expect(watcher.problems()).toEqual([]);

    // A browser set up in English gets English on its first visit.
    const english = await newWatchedContext(browser, { locale: 'en-US', viewport: { width: 390, height: 844 } });
    contexts.push(english.context);
    const first = await english.context.newPage();
    await first.goto(`${server.url}/daftar`);
    await expect(heading(first)).resolves.toBe('Create a Kediri ID account');
  }, JOURNEY_TIMEOUT);
});
