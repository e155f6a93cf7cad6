/**
 * Passkeys in a real browser (Debian's Chromium with its virtual authenticator, driven through
 * the DevTools protocol's WebAuthn domain): the citizen adds a passkey from the account page, then
 * signs in at a relying party that asks for urn:kediri:acr:verified-mfa with the password and the
 * passkey; the ID token's amr proves it. A replayed passkey answer and a browser without the
 * passkey are refused. The issuer is http://localhost:port: WebAuthn needs a domain, not an address.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, launchBrowser, newWatchedContext, landAtCallback, type Watcher } from '../support/browser.js';
import { SITI, createWebClient } from '../support/fixtures.js';
import { emailsTo } from '../support/mail.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

const MFA = 'urn:kediri:acr:verified-mfa';
const JOURNEY_TIMEOUT = 120_000;
const PASSKEY_FAILED = 'Kunci sandi tidak berhasil dipakai. Coba lagi, atau masukkan kode di bawah.';
const SECOND_FACTOR_INVALID =
  'Kode salah, sudah dipakai, atau sudah kedaluwarsa. Masukkan kode terbaru dari aplikasi autentikator, atau salah satu kode pemulihan.';

describeWithBrowser('a citizen adds a passkey and signs in with it, with Chromium', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  /** The sub Samsat's services see: pairwise per unit. */
  let sub: string;
  let rp: oidc.Configuration;
  const contexts: BrowserContext[] = [];
  /** The browser that holds the passkey, and the passkey answer it sent at its sign-in. */
  let holder: { page: Page; watcher: Watcher } | undefined;
  let sentAnswer = '';

  beforeAll(async () => {
    [server, rpPages, browser] = await Promise.all([startTestServer({}, { hostname: 'localhost' }), startRelyingPartyPages(), launchBrowser()]);
    const citizenId = (await server.instance.citizens.create(SITI, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' })).id;
    sub = pairwiseSubject(server.instance.sealer, 'samsat', citizenId);
    const { clientId, clientSecret } = await createWebClient(server.instance, {
      name: 'Samsat Online',
      unit: 'samsat',
      redirectUris: [`${rpPages.origin}/callback`],
    });
    rp = await relyingParty(server.url, clientId, clientSecret);
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close()]);
  });

  /** A fresh browser; with `authenticator`, one with a platform authenticator (user verified). */
  async function newBrowser({ authenticator }: { authenticator: boolean }) {
    const { context, watcher } = await newWatchedContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    if (authenticator) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
    }
    return { page, watcher };
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

  async function passwordStep(page: Page) {
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Masuk dengan kunci sandi', exact: true }).waitFor();
  }

  const mfaRequest = () =>
    authorizationRequest(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid', acr_values: MFA, prompt: 'consent' });

  test('"Tambah kunci sandi" on /akun creates a passkey with the password; the first factor brings ten recovery codes and an email', async () => {
    const { page, watcher } = await newBrowser({ authenticator: true });
    await page.goto(`${server.url}/akun`);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/akun');
    expect(await page.getByText('Belum ada kunci sandi.', { exact: true }).isVisible()).toBe(true);
    const mailsBefore = await emailsTo(server.instance.db, SITI.email);

    await page.getByRole('link', { name: 'Tambah kunci sandi', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/akun/kunci-sandi');
    await expect(heading(page)).resolves.toBe('Tambah kunci sandi (passkey)');
    // With JavaScript and WebAuthn, the form shows and the no-JavaScript note hides.
    expect(await page.getByText(/peramban Anda perlu JavaScript/).isVisible()).toBe(false);
    await page.getByLabel('Nama untuk kunci ini', { exact: true }).fill('Ponsel saya');
    await page.getByLabel('Kata sandi Kediri ID Anda', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Buat kunci sandi', exact: true }).click();

    await page.getByRole('heading', { level: 1, name: 'Simpan kode pemulihan Anda', exact: true }).waitFor();
    const codes = page.getByRole('list').filter({ has: page.getByRole('code') }).getByRole('listitem');
    expect(await codes.count()).toBe(10);
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mailsBefore + 1);

    await page.getByRole('link', { name: 'Kembali ke akun saya', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/akun');
    expect(await page.getByLabel('Nama kunci sandi', { exact: true }).inputValue()).toBe('Ponsel saya');
    expect(await page.getByRole('link', { name: 'Hapus Ponsel saya', exact: true }).isVisible()).toBe(true);
    expect(watcher.problems()).toEqual([]);

    await page.getByRole('button', { name: 'Keluar dari halaman akun', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/');
    holder = { page, watcher };
  }, JOURNEY_TIMEOUT);

  test('a relying party asking for verified-mfa gets the password, then the passkey, and an ID token with acr verified-mfa and amr pwd+hwk', async () => {
    if (!holder) throw new Error('the passkey journey did not finish; this one continues in its browser');
    const { page, watcher } = holder;
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/passkey')) {
        sentAnswer = new URLSearchParams(request.postData() ?? '').get('credential') ?? '';
      }
    });
    const request = await mfaRequest();
    await page.goto(request.url);
    await passwordStep(page);
    await page.getByRole('button', { name: 'Pakai kunci sandi', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    const claims = (await oidc.authorizationCodeGrant(rp, callback, request.checks)).claims()!;
    expect(claims).toMatchObject({ sub, acr: MFA, amr: ['pwd', 'hwk'] });
    expect(JSON.parse(sentAnswer)).toMatchObject({ type: 'public-key' });
    expect(watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('a replayed passkey answer is refused in another browser, and a browser without the passkey cannot use it', async () => {
    expect(sentAnswer).not.toBe('');
    const { page } = await newBrowser({ authenticator: true });
    await page.goto((await mfaRequest()).url);
    await passwordStep(page);
    // The answer captured at the last sign-in, sent again: its challenge was taken already.
    await page.locator('input[name=credential]').evaluate((input, answer) => {
      (input as HTMLInputElement).value = answer;
      (input as HTMLInputElement).form!.submit();
    }, sentAnswer);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').getByRole('link').allTextContents()).toEqual([SECOND_FACTOR_INVALID]);
    expect(new URL(page.url()).origin).toBe(server.url);

    // A browser whose authenticator never saw this passkey: the ceremony fails and says so.
    const other = await newBrowser({ authenticator: true });
    await other.page.goto((await mfaRequest()).url);
    await passwordStep(other.page);
    await other.page.getByRole('button', { name: 'Pakai kunci sandi', exact: true }).click();
    await other.page.getByText(PASSKEY_FAILED, { exact: true }).waitFor();
    expect(new URL(other.page.url()).origin).toBe(server.url);
  }, JOURNEY_TIMEOUT);
});
