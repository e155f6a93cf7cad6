/**
 * The MPP counter (/loket) on a phone-sized screen (390x844), in Chromium: an officer signs in with
 * password and TOTP, finds a citizen by NIK, records the phone number the citizen shows as verified
 * and corrects the verified name from the KTP-el with a reason; a missing reason and a mistyped NIK
 * are told on the field, in words meant for the officer.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, describedBy, launchBrowser, newWatchedContext, type Watcher } from '../support/browser.js';
import { grantStaff, totpCode } from '../support/fixtures.js';
import { lastEmailTo } from '../support/mail.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JOURNEY_TIMEOUT = 120_000;
const OFFICER = { nik: '3571011203870005', name: 'Hendra Loket', birthdate: '1987-03-12', email: 'hendra@mpp.kedirikota.go.id', password: 'loket-mpp-dhoho-plaza' };
/** Verified by the operator, with a typo in the name; no phone yet. */
const NUR = { nik: '3571015707910003', name: 'Nur Hidayahh', birthdate: '1991-07-17', email: 'nur@example.id', password: 'tahu-kuning-khas-kediri' };

describeWithBrowser('the MPP counter on a phone-sized screen, in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watcher: Watcher;
  let totp: string;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await server.instance.citizens.create(OFFICER, { actor: 'test', emailVerified: true });
    totp = (await grantStaff(server.instance, OFFICER.email, 'officer')).totp;
    await server.instance.citizens.create(NUR, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' });
    ({ context, watcher } = await newWatchedContext(browser, { viewport: { width: 390, height: 844 } }));
    page = await context.newPage();
  }, JOURNEY_TIMEOUT);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await server?.close();
  });

  const fieldError = (field: string) => page.locator(`#${field}-error`).textContent();

  /** The officer signs in to /loket: password, then the code of the TOTP app. */
  async function signInAtCounter() {
    await page.goto(`${server.url}/loket`);
    await page.fill('#identifier', OFFICER.email);
    await page.fill('#password', OFFICER.password);
    await page.locator('#password').press('Enter');
    await page.locator('#code').waitFor();
    await page.fill('#code', await totpCode(totp));
    await page.locator('#code').press('Enter');
    await page.waitForURL((url) => url.pathname === '/loket');
  }

  async function findCitizen(nik: string) {
    await page.getByLabel('NIK', { exact: true }).fill(nik);
    await page.getByRole('button', { name: 'Cari', exact: true }).click();
    await page.waitForLoadState();
  }

  test('a mistyped NIK is told to the officer, about the citizen\'s NIK', async () => {
    await signInAtCounter();
    await findCitizen('3571015707910000');
    const message = await fieldError('nik');
    expect(message).toContain('Empat angka terakhir NIK tidak boleh 0000. Periksa kembali NIK warga pada KTP-el-nya.');
    expect(message).not.toContain('Anda');
    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('the officer records the phone the citizen shows, then corrects the name with a reason', async () => {
    await page.goto(`${server.url}/loket`);
    await findCitizen(NUR.nik);
    await expect(page.getByRole('heading', { level: 1, name: 'Data akun' }).isVisible()).resolves.toBe(true);
    const details = page.locator('dl.summary-list');
    await expect(details.textContent()).resolves.toContain('Nur Hidayahh');

    // The phone the citizen shows on their own phone, typed as it reads there.
    await page.getByLabel('Nomor HP warga', { exact: true }).fill('0812 5555 0101');
    await page.getByLabel('Saya sudah memastikan nomor ini adalah nomor HP warga yang ada di depan saya.').check();
    await page.getByRole('button', { name: 'Catat sebagai nomor terverifikasi', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'sudah tercatat dan terverifikasi' }).waitFor();
    await expect(details.textContent()).resolves.toContain('+6281255550101 · terverifikasi');

    // No reason: told on the field, the name the officer typed kept, nothing changed.
    const name = page.getByLabel('Nama lengkap sesuai KTP-el', { exact: true });
    await expect(name.inputValue()).resolves.toBe('Nur Hidayahh');
    await name.fill('Nur Hidayah');
    await page.getByRole('button', { name: 'Simpan nama yang diperbaiki', exact: true }).click();
    await page.locator('#reason-error').waitFor();
    await expect(fieldError('reason')).resolves.toContain('Tuliskan alasan perbaikan nama');
    const reason = page.getByLabel('Alasan perbaikan', { exact: true });
    expect(await describedBy(reason)).toContain('Tuliskan alasan perbaikan nama');
    await expect(name.inputValue()).resolves.toBe('Nur Hidayah');
    await expect(details.textContent()).resolves.toContain('Nur Hidayahh');

    await reason.fill('Salah ketik saat mendaftar');
    await page.getByRole('button', { name: 'Simpan nama yang diperbaiki', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Nama warga ini sudah diperbaiki.' }).waitFor();
    await expect(details.locator('dd').nth(1).textContent()).resolves.toBe('Nur Hidayah');
    expect((await server.instance.citizens.findByEmail(NUR.email))).toMatchObject({ name: 'Nur Hidayah', phone: '+6281255550101', phone_verified: true });
    expect((await lastEmailTo(server.instance.db, NUR.email)).body).toContain('Halo Nur Hidayah,');

    // The page fits the phone's width: nothing to scroll sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);
});
