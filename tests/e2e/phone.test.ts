/**
 * A phone-first citizen in a real browser (Debian's Chromium), with the codes read where they
 * arrive: at a WhatsApp Cloud API and an SMS gateway played by test servers (the server sends
 * through them as in production). The citizen registers with a phone number only, signs in to a
 * relying party with a code alone (acr basic, amr the channel) and with the password, resets the
 * password with a code, and is not offered a code where the service asks for verified-mfa.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createLogger } from '../../src/log.js';
import { createGateways } from '../../src/messaging/gateways.js';
import { createMessageSender } from '../../src/messaging/sender.js';
import { ACR } from '../../src/identity/assurance.js';
import { describeWithBrowser, landAtCallback, launchBrowser, newWatchedContext, type Watcher } from '../support/browser.js';
import { createWebClient } from '../support/fixtures.js';
import { startMessageGateway, type MessageGatewayStub } from '../support/message-gateway.js';
import { phoneCodesAge } from '../support/messages.js';
import { authorizationRequest, relyingParty as discoverRelyingParty } from '../support/rp.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { startTestServer, type TestServer } from '../support/server.js';

const WA_TOKEN = 'wa-token-for-the-phone-journey';
const SMS_TOKEN = 'sms-token-for-the-phone-journey';
/** A made-up but valid NIK: Kota Kediri, kecamatan 01, a man born 3 March 1961, serial 0007. */
const PAK_HARTO = { nik: '3571010303610007', name: 'Suharto Wibisono', day: '3', month: '3', year: '1961', phone: '0813-5555-1961', e164: '+6281355551961' };
const PASSWORD = 'sepeda-onthel-ke-pasar-setono';
const NEW_PASSWORD = 'tahu-takwa-kuning-dari-kediri';
const JOURNEY_TIMEOUT = 120_000;

describeWithBrowser('a citizen with a phone and no email, in Chromium', () => {
  let server: TestServer;
  let whatsapp: MessageGatewayStub;
  let sms: MessageGatewayStub;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  let deliver: () => Promise<number>;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [whatsapp, sms, rpPages, browser] = await Promise.all([
      startMessageGateway('whatsapp', WA_TOKEN),
      startMessageGateway('sms', SMS_TOKEN),
      startRelyingPartyPages(),
      launchBrowser(),
    ]);
    server = await startTestServer({
      MESSAGE_GATEWAY: 'whatsapp,sms',
      WHATSAPP_API_URL: `${whatsapp.url}/v21.0`,
      WHATSAPP_PHONE_NUMBER_ID: '100200300',
      WHATSAPP_ACCESS_TOKEN: WA_TOKEN,
      SMS_GATEWAY_URL: `${sms.url}/sms`,
      SMS_GATEWAY_TOKEN: SMS_TOKEN,
    });
    // The sender of a server process (src/main.ts runs it), sending through the two gateways.
    const log = createLogger('silent');
    const sender = createMessageSender(server.instance.db, log, { gateways: createGateways(server.instance.config, log) });
    deliver = () => sender.deliverDue();
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close(), whatsapp?.close(), sms?.close()]);
  });

  async function newBrowser(): Promise<{ page: Page; watcher: Watcher }> {
    // A cheap Android phone's screen.
    const { context, watcher } = await newWatchedContext(browser, { viewport: { width: 360, height: 740 } });
    contexts.push(context);
    return { page: await context.newPage(), watcher };
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

  /**
   * Delivers what is due and returns the code the phone got, and by which channel: from the
   * WhatsApp template's parameter, or from the SMS text. A failed attempt's retry is made due at
   * once (the sender waits a few seconds before trying the other channel).
   */
  async function codeOnPhone(): Promise<{ code: string; channel: 'whatsapp' | 'sms' }> {
    const seen = { whatsapp: whatsapp.requests.length, sms: sms.requests.length };
    for (let round = 0; round < 4; round++) {
      await deliver();
      const wa = whatsapp.mode === 'accept' ? whatsapp.requests.slice(seen.whatsapp).at(-1) : undefined;
      if (wa) {
        const template = wa.json.template as { components: Array<{ type: string; parameters: Array<{ text: string }> }> };
        expect(wa.json.to).toBe(PAK_HARTO.e164.slice(1));
        return { code: template.components.find((c) => c.type === 'body')!.parameters[0]!.text, channel: 'whatsapp' };
      }
      const text = sms.requests.slice(seen.sms).at(-1);
      if (text) {
        expect(text.json.to).toBe(PAK_HARTO.e164);
        expect(text.json.text).toContain('JANGAN BERIKAN kode ini kepada siapa pun, termasuk petugas');
        return { code: /\b(\d{6})\b/.exec(String(text.json.text))![1]!, channel: 'sms' };
      }
      await server.instance.db.query('update message_outbox set send_after = now() where sent_at is null and failed_at is null');
    }
    throw new Error('no code reached the phone');
  }

  async function newRelyingParty(name: string) {
    const { clientId, clientSecret } = await createWebClient(server.instance, { name, redirectUris: [`${rpPages.origin}/callback`] });
    const rp = await discoverRelyingParty(server.url, clientId, clientSecret);
    return { rp, request: (params: Record<string, string> = {}) => authorizationRequest(rp, { redirect_uri: `${rpPages.origin}/callback`, scope: 'openid profile phone', ...params }) };
  }

  /** Grants access on the consent page (the first time) and exchanges the code at the relying party. */
  async function finishAtRelyingParty(page: Page, watcher: Watcher, rp: oidc.Configuration, checks: Awaited<ReturnType<typeof authorizationRequest>>['checks']) {
    const grant = page.getByRole('button', { name: 'Berikan akses', exact: true });
    await Promise.race([grant.waitFor(), page.waitForURL((url) => url.origin === rpPages.origin)]);
    if (await grant.isVisible()) await grant.click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    return oidc.authorizationCodeGrant(rp, callback, checks);
  }

  test('registers with a phone only, signs in with a code (acr basic, amr of the channel that delivered it) and with the password, and resets the password by phone', async () => {
    const { rp, request } = await newRelyingParty('Layanan Pajak Daerah');
    const first = await request();
    const { page, watcher } = await newBrowser();

    // Registration, from the login page, with the phone number and WhatsApp.
    await page.goto(first.url);
    const loginPage = page.url();
    await page.getByRole('link', { name: 'Daftar', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/daftar');
    await page.getByLabel('NIK', { exact: true }).fill(PAK_HARTO.nik);
    await page.getByLabel('Nama lengkap', { exact: true }).fill(PAK_HARTO.name);
    const birthdate = page.getByRole('group', { name: 'Tanggal lahir', exact: true });
    await birthdate.getByLabel('Tanggal', { exact: true }).fill(PAK_HARTO.day);
    await birthdate.getByLabel('Bulan', { exact: true }).fill(PAK_HARTO.month);
    await birthdate.getByLabel('Tahun', { exact: true }).fill(PAK_HARTO.year);
    await page.getByLabel('Nomor HP', { exact: true }).fill(PAK_HARTO.phone);
    await page.getByRole('group', { name: 'Kirim kode lewat' }).getByLabel('WhatsApp', { exact: true }).check();
    await page.getByLabel('Kata sandi', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Ulangi kata sandi', { exact: true }).fill(PASSWORD);
    await page.getByRole('checkbox', { name: 'Saya sudah membaca dan menyetujui pemberitahuan privasi (membuka tab baru)', exact: true }).check();
    await page.getByRole('button', { name: 'Daftar', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/verifikasi');
    await expect(heading(page)).resolves.toBe('Periksa pesan di HP Anda');
    await expect(page.getByRole('status').textContent()).resolves.toContain('lewat WhatsApp ke +62813*****961');
    const registered = await codeOnPhone();
    expect(registered.channel).toBe('whatsapp');
    await page.getByLabel('Kode verifikasi', { exact: true }).fill(registered.code);
    await page.getByRole('button', { name: 'Verifikasi', exact: true }).click();
    await expect(heading(page)).resolves.toBe('Nomor HP Anda sudah terverifikasi');

    // Back at the login page: a code instead of the password, asked for by SMS.
    await page.getByRole('button', { name: 'Lanjut masuk', exact: true }).click();
    await page.waitForURL(loginPage);
    await page.getByRole('link', { name: 'Masuk dengan kode lewat WhatsApp/SMS', exact: true }).click();
    await page.getByLabel('Nomor HP', { exact: true }).fill('+62 813 5555 1961');
    await page.getByRole('group', { name: 'Kirim kode lewat' }).getByLabel('SMS', { exact: true }).check();
    await page.getByRole('button', { name: 'Kirim kode', exact: true }).click();
    const bySms = await codeOnPhone();
    expect(bySms.channel).toBe('sms');
    await page.getByLabel('Kode', { exact: true }).fill(bySms.code.replace(/(\d{3})(\d{3})/, '$1 $2'));
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    const byCode = await finishAtRelyingParty(page, watcher, rp, first.checks);
    expect(byCode.claims()).toMatchObject({ acr: ACR.basic, amr: ['sms'] });
    const userinfo = await oidc.fetchUserInfo(rp, byCode.access_token, byCode.claims()!.sub);
    expect(userinfo).toMatchObject({ name: PAK_HARTO.name, phone_number: PAK_HARTO.e164, phone_number_verified: true });
    expect(userinfo.email).toBeUndefined();

    // WhatsApp chosen, but WhatsApp fails: the code comes by SMS, and the amr says so. (Ten
    // minutes later: a number gets three codes in ten minutes.)
    await phoneCodesAge(server.instance.db, PAK_HARTO.e164, 600);
    whatsapp.mode = 'error';
    const second = await request({ prompt: 'login' });
    const other = await newBrowser();
    await other.page.goto(second.url);
    await other.page.getByRole('link', { name: 'Masuk dengan kode lewat WhatsApp/SMS', exact: true }).click();
    await other.page.getByLabel('Nomor HP', { exact: true }).fill('081355551961');
    await other.page.getByRole('group', { name: 'Kirim kode lewat' }).getByLabel('WhatsApp', { exact: true }).check();
    await other.page.getByRole('button', { name: 'Kirim kode', exact: true }).click();
    const fallback = await codeOnPhone();
    expect(fallback.channel).toBe('sms');
    whatsapp.mode = 'accept';
    await other.page.getByLabel('Kode', { exact: true }).fill(fallback.code);
    await other.page.getByRole('button', { name: 'Masuk', exact: true }).click();
    expect((await finishAtRelyingParty(other.page, other.watcher, rp, second.checks)).claims()).toMatchObject({ acr: ACR.basic, amr: ['sms'] });

    // The password, with the number as the identifier.
    const third = await request();
    const withPassword = await newBrowser();
    await withPassword.page.goto(third.url);
    await withPassword.page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(PAK_HARTO.phone);
    await withPassword.page.getByLabel('Kata sandi', { exact: true }).fill(PASSWORD);
    await withPassword.page.getByRole('button', { name: 'Masuk', exact: true }).click();
    expect((await finishAtRelyingParty(withPassword.page, withPassword.watcher, rp, third.checks)).claims()).toMatchObject({ acr: ACR.basic, amr: ['pwd'] });

    // Forgotten password: a code to the phone, then a new password; the old one stops working.
    await phoneCodesAge(server.instance.db, PAK_HARTO.e164, 600);
    const fourth = await request();
    const reset = await newBrowser();
    await reset.page.goto(fourth.url);
    const resetLoginPage = reset.page.url();
    await reset.page.getByRole('link', { name: 'Lupa kata sandi?', exact: true }).click();
    await reset.page.getByLabel('Email atau nomor HP', { exact: true }).fill(PAK_HARTO.phone);
    await reset.page.getByRole('group', { name: 'Kirim kode lewat' }).getByLabel('WhatsApp', { exact: true }).check();
    await reset.page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();
    const resetCode = await codeOnPhone();
    await reset.page.getByLabel('Kode', { exact: true }).fill(resetCode.code);
    await reset.page.getByRole('button', { name: 'Lanjutkan', exact: true }).click();
    await reset.page.getByLabel('Kata sandi baru', { exact: true }).fill(NEW_PASSWORD);
    await reset.page.getByLabel('Ulangi kata sandi baru', { exact: true }).fill(NEW_PASSWORD);
    await reset.page.getByRole('button', { name: 'Simpan kata sandi baru', exact: true }).click();
    await expect(heading(reset.page)).resolves.toBe('Kata sandi Anda sudah diubah');
    // Told on the phone (the account has no email).
    await deliver();
    expect(whatsapp.requests.at(-1)!.body).toContain('kata sandi');
    await reset.page.goto(resetLoginPage);
    await reset.page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(PAK_HARTO.nik);
    await reset.page.getByLabel('Kata sandi', { exact: true }).fill(PASSWORD);
    await reset.page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await reset.page.getByRole('alert').getByText('NIK/email/nomor HP atau kata sandi salah.').waitFor();
    await reset.page.getByLabel('Kata sandi', { exact: true }).fill(NEW_PASSWORD);
    await reset.page.getByRole('button', { name: 'Masuk', exact: true }).click();
    expect((await finishAtRelyingParty(reset.page, reset.watcher, rp, fourth.checks)).claims()).toMatchObject({ amr: ['pwd'] });

    for (const w of [watcher, other.watcher, withPassword.watcher, reset.watcher]) expect(w.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('a service that asks for verified-mfa offers no code, and a code sign-in forced there ends without a login', async () => {
    const { request } = await newRelyingParty('Bank Jatim');
    const strict = await request({ acr_values: ACR.verifiedMfa });
    const { page } = await newBrowser();
    await page.goto(strict.url);
    await expect(heading(page)).resolves.toBe('Masuk ke Bank Jatim');
    expect(await page.getByRole('link', { name: 'Masuk dengan kode lewat WhatsApp/SMS' }).count()).toBe(0);
    const sent = whatsapp.requests.length + sms.requests.length;
    await page.goto(`${page.url()}/kode`);
    const callback = await page.waitForURL((url) => url.origin === rpPages.origin).then(() => new URL(page.url()));
    expect(callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    await deliver();
    expect(whatsapp.requests.length + sms.requests.length).toBe(sent);
  }, JOURNEY_TIMEOUT);
});
