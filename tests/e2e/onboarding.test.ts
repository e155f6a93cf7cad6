/**
 * Unit onboarding in a real browser (Debian's Chromium): an admin invites a developer; the
 * developer accepts, is sent to set up a second factor (the page checked on a phone's screen), sets
 * up a TOTP app, signs in again with it and submits a request for a web client; the admin rejects it with a
 * reason; the developer fixes it and submits again; the admin approves; the developer takes the
 * secret (shown once) and their test relying party (openid-client) signs a citizen in; the admin
 * suspends the client and its next token request fails with invalid_client. Elements are found by
 * label, role and name, with the texts of views/locales/id.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, launchBrowser, landAtCallback, newWatchedContext, type Watcher } from '../support/browser.js';
import { SITI, createCitizen, grantStaff, totpCode } from '../support/fixtures.js';
import { lastEmailTo } from '../support/mail.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const SERVICE = 'Pajak Daerah Online';
const REJECTION = 'Kebijakan privasi harus berada di domain kedirikota.go.id.';
const JOURNEY_TIMEOUT = 120_000;

describeWithBrowser('a unit onboards a service, with Chromium', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let admin: { page: Page; watcher: Watcher };
  let developer: { page: Page; watcher: Watcher };
  let adminTotp: string;

  beforeAll(async () => {
    [server, rpPages, browser] = await Promise.all([startTestServer(), startRelyingPartyPages(), launchBrowser()]);
    for (const person of [SITI, ADMIN, DEV]) await createCitizen(server.instance, person);
    adminTotp = (await grantStaff(server.instance, ADMIN.email, 'admin')).totp;
    [admin, developer] = [await newBrowser(), await newBrowser()];
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close()]);
  });

  async function newBrowser() {
    const { context, watcher } = await newWatchedContext(browser);
    contexts.push(context);
    return { page: await context.newPage(), watcher };
  }

  /** The login page: password, then (for an account with a TOTP app) the code the app shows. */
  async function signInHere(page: Page, who: { email: string; password: string }, totp?: string) {
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(who.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(who.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    if (!totp) return;
    await page.getByLabel('Kode dari aplikasi autentikator', { exact: true }).fill(await totpCode(totp));
    await page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

  /** The developer's registration form, filled in; the privacy policy URL is the one thing that varies. */
  async function submitRequest(policyUri: string) {
    const { page } = developer;
    await page.goto(`${server.url}/developer`);
    await page.getByRole('link', { name: 'Daftarkan layanan baru', exact: true }).click();
    await page.getByLabel('Nama layanan', { exact: true }).fill(SERVICE);
    await page.getByLabel('Aplikasi web dengan server', { exact: true }).check();
    await page.getByLabel('Alamat pengalihan (redirect URI)', { exact: true }).fill(`${rpPages.origin}/callback`);
    await page.getByLabel(/^profile:/).check();
    await page.getByLabel(/^offline_access:/).check();
    await page.getByLabel('Rahasia klien (client_secret_basic)', { exact: true }).check();
    await page.getByLabel('Alamat kebijakan privasi layanan', { exact: true }).fill(policyUri);
    await page.getByLabel('Email kontak teknis', { exact: true }).fill(DEV.email);
    await page.getByRole('button', { name: 'Kirim permintaan', exact: true }).click();
    await page.waitForURL((url) => /^\/developer\/permintaan\/[0-9a-f-]{36}$/.test(url.pathname));
    return new URL(page.url()).pathname.split('/').pop()!;
  }

  /** The admin opens the review page of a request from the queue. */
  async function openFromQueue(requestId: string) {
    const { page } = admin;
    await page.goto(`${server.url}/admin/permintaan`);
    await page.locator(`a[href="/admin/permintaan/${requestId}"]`).click();
    await page.getByRole('heading', { level: 1, name: SERVICE, exact: true }).waitFor();
  }

  test('the whole journey, from the invitation to the suspension', async () => {
    // The admin signs in to the console and invites the developer to BPPKAD.
    await admin.page.goto(`${server.url}/admin/staf`);
    await signInHere(admin.page, ADMIN, adminTotp);
    await admin.page.waitForURL((url) => url.pathname === '/admin/staf');
    await admin.page.getByLabel('Email', { exact: true }).fill(DEV.email);
    await admin.page.getByLabel('Peran', { exact: true }).selectOption('developer');
    await admin.page.getByLabel('Unit (untuk pengembang)', { exact: true }).selectOption('bppkad');
    await admin.page.getByRole('button', { name: 'Kirim undangan', exact: true }).click();
    await admin.page.getByText('Undangan sudah dikirim melalui email.', { exact: true }).waitFor();

    // The developer opens the emailed link on a phone, signed out: it says who invites them to
    // what before asking them to sign in (or to register first); then signs in and accepts.
    const { link } = await lastEmailTo(server.instance.db, DEV.email);
    await developer.page.setViewportSize({ width: 390, height: 844 });
    await developer.page.goto(link!);
    expect(new URL(developer.page.url()).pathname).toBe('/undangan/terima');
    await developer.page.getByText('Dewi Admin (admin) mengundang Anda menjadi Pengembang unit di BPPKAD: Anda akan dapat mendaftarkan dan mengelola layanan unit itu.', { exact: true }).waitFor();
    await developer.page.getByText(`Undangan ini untuk akun dengan email ${DEV.email}.`, { exact: true }).waitFor();
    expect(await developer.page.getByRole('link', { name: 'Daftar', exact: true }).getAttribute('href')).toBe('/daftar');
    await developer.page.getByRole('link', { name: 'Masuk untuk menerima', exact: true }).click();
    await signInHere(developer.page, DEV);
    await developer.page.getByRole('button', { name: 'Terima undangan', exact: true }).click();
    await developer.page.waitForURL((url) => url.pathname === '/developer');

    // Without a second factor the portal explains why and links to its setup; on a phone's screen
    // nothing spills sideways and the link is in view.
    await developer.page.setViewportSize({ width: 360, height: 740 });
    await expect(heading(developer.page)).resolves.toBe('Aktifkan verifikasi dua langkah dahulu');
    await developer.page.getByText(/mengubah alamat pengalihan \(redirect URI\), kunci, dan rahasia/).waitFor();
    expect(await developer.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const setup = developer.page.getByRole('link', { name: 'Atur verifikasi dua langkah sekarang', exact: true });
    await expect(setup.isVisible()).resolves.toBe(true);
    const box = (await setup.boundingBox())!;
    expect(box.x >= 0 && box.x + box.width <= 360).toBe(true);
    await setup.click();
    await developer.page.waitForURL((url) => url.pathname === '/akun/dua-langkah');
    const devTotp = (await developer.page.locator('#secret').textContent())!.replace(/\s/g, '');
    await developer.page.getByLabel('Kode dari aplikasi autentikator', { exact: true }).fill(await totpCode(devTotp));
    await developer.page.getByLabel('Kata sandi Kediri ID Anda', { exact: true }).fill(DEV.password);
    await developer.page.getByRole('button', { name: 'Aktifkan', exact: true }).click();
    await developer.page.locator('ul.recovery-codes').waitFor();
    await developer.page.setViewportSize({ width: 1280, height: 800 });

    // The session's login did not use the second factor: the portal asks for it (password and code).
    await developer.page.goto(`${server.url}/developer`);
    await signInHere(developer.page, DEV, devTotp);
    await developer.page.waitForURL((url) => url.pathname === '/developer');
    await expect(heading(developer.page)).resolves.toBe('Portal pengembang');

    // A first request; the admin rejects it with a reason, which reaches the developer.
    const first = await submitRequest('https://pajak.example.com/privasi');
    await openFromQueue(first);
    await admin.page.getByLabel('Alasan penolakan', { exact: true }).fill(REJECTION);
    await admin.page.getByRole('button', { name: 'Tolak permintaan', exact: true }).click();
    await admin.page.waitForURL((url) => url.pathname === '/admin/permintaan');
    expect((await lastEmailTo(server.instance.db, DEV.email)).body).toContain(REJECTION);
    await developer.page.goto(`${server.url}/developer/permintaan/${first}`);
    await developer.page.getByText(REJECTION, { exact: true }).waitFor();

    // Fixed and submitted again; approved.
    const second = await submitRequest('https://pajak.kedirikota.go.id/privasi');
    await openFromQueue(second);
    await admin.page.getByRole('button', { name: 'Setujui permintaan', exact: true }).click();
    await admin.page.waitForURL((url) => url.pathname === '/admin/layanan');

    // Both sign out from their area's menu: signed out, the area asks for a login again.
    for (const [who, area] of [[admin, '/admin/layanan'], [developer, '/developer']] as const) {
      await who.page.goto(`${server.url}${area}`);
      await who.page.getByRole('navigation').getByRole('button', { name: 'Keluar', exact: true }).click();
      await who.page.waitForURL((url) => url.pathname === '/');
      await who.page.goto(`${server.url}${area}`);
      expect(new URL(who.page.url()).pathname).toMatch(/^\/interaction\/[\w-]+$/);
      await who.page.getByLabel('Kata sandi', { exact: true }).waitFor();
      await signInHere(who.page, who === admin ? ADMIN : DEV, who === admin ? adminTotp : devTotp);
      await who.page.waitForURL((url) => url.pathname === area);
    }

    // The developer takes the secret, once.
    await developer.page.goto(`${server.url}/developer/permintaan/${second}`);
    await developer.page.getByRole('button', { name: 'Lihat rahasia klien (sekali saja)', exact: true }).click();
    const clientId = (await developer.page.locator('#client-id').textContent())!.trim();
    const clientSecret = (await developer.page.locator('#client-secret').textContent())!.trim();
    expect(clientId).toMatch(/^bppkad-/);
    expect(clientSecret.length).toBeGreaterThanOrEqual(40);

    // The developer's test relying party signs a citizen in.
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const citizen = await newBrowser();
    const request = await authorizationRequest(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile offline_access', prompt: 'consent' });
    await citizen.page.goto(request.url);
    await expect(heading(citizen.page)).resolves.toBe(`Masuk ke ${SERVICE}`);
    await signInHere(citizen.page, SITI);
    // The consent page links the privacy policy from the approved registration.
    const policy = citizen.page.getByRole('link', { name: `Kebijakan privasi ${SERVICE}`, exact: true });
    expect(await policy.getAttribute('href')).toBe('https://pajak.kedirikota.go.id/privasi');
    expect(await policy.getAttribute('rel')).toBe('noopener noreferrer');
    await citizen.page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    const callback = await landAtCallback(citizen.page, citizen.watcher, rpPages.origin);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, request.checks);
    // Pairwise per unit: the request's unit (bppkad), the account and the instance key.
    expect(tokens.claims()!.sub).toBe(pairwiseSubject(server.instance.sealer, 'bppkad', (await server.instance.citizens.findByEmail(SITI.email))!.id));
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);

    // The admin suspends the client: its next token request is refused as invalid_client.
    await admin.page.getByRole('button', { name: `Hentikan sementara ${SERVICE}`, exact: true }).click();
    await admin.page.getByRole('button', { name: `Aktifkan kembali ${SERVICE}`, exact: true }).waitFor();
    const next = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! }).toString(),
    });
    expect(next.status).toBe(401);
    expect(await next.json()).toMatchObject({ error: 'invalid_client' });

    for (const { watcher } of [admin, developer, citizen]) expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('an invitation link that is not valid (any more) says so, signed out, and shows nothing of an invitation', async () => {
    const { page, watcher } = await newBrowser();
    const response = await page.goto(`${server.url}/undangan?token=${'x'.repeat(43)}`);
    expect(response!.status()).toBe(400);
    await page.getByText('Tautan undangan ini tidak berlaku lagi: sudah dipakai, kedaluwarsa, atau dibatalkan. Minta admin Kediri ID mengirim undangan baru.', { exact: true }).waitFor();
    expect(await page.getByRole('link', { name: 'Masuk untuk menerima' }).count()).toBe(0);
    expect(watcher.problems()).toEqual([]);
  });
});
