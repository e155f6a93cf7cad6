/**
 * The kiosk at the MPP in a real browser (Debian's Chromium): the kiosk (openid-client in the
 * test) starts a device authorization and shows its screen (examples/kiosk/page.ts: the QR code
 * as SVG and the user code); the citizen's phone, a second browser context at 360x740, opens
 * verification_uri_complete (what the QR code holds), signs in with the normal login, sees the
 * kiosk's name and unit and taps Izinkan; the kiosk's poll gets tokens. No console errors and no
 * CSP violations on the way (the provider's auto-submitted form included).
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { kioskScreen } from '../../examples/kiosk/page.js';
import { describeWithBrowser, launchBrowser, newWatchedContext } from '../support/browser.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JOURNEY_TIMEOUT = 60_000;
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };

describeWithBrowser('the kiosk: QR code on the kiosk, approval on the phone, with Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let kiosk: oidc.Configuration;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await createCitizen(server.instance);
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Kios Antrean Dispendukcapil' });
    await server.instance.clientRequests.setProfile(clientId, { subjectType: 'public', highAssurance: false, ciba: false, kiosk: true }, 'test', '127.0.0.1');
    kiosk = await relyingParty(server.url, clientId, clientSecret);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the phone scans, signs in and approves; the kiosk gets tokens', async () => {
    const started = await oidc.initiateDeviceAuthorization(kiosk, { scope: 'openid profile' });
    const polling = oidc.pollDeviceAuthorizationGrant(kiosk, { ...started, interval: 0.2 });

    // The kiosk's screen: the QR code (SVG, made on the kiosk's side) and the code to type.
    const kioskContext = await newWatchedContext(browser, { viewport: { width: 1280, height: 800 } });
    const screen = await kioskContext.context.newPage();
    await screen.setContent(await kioskScreen({ title: 'Kios Antrean Dispendukcapil', ...started, verification_uri_complete: started.verification_uri_complete! }, 3600));
    await expect(screen.locator('.qr svg').count()).resolves.toBe(1);
    await expect(screen.locator('#user-code').textContent()).resolves.toBe(started.user_code);

    // The phone opens what the QR code holds: the provider posts the code on, and asks to sign in first.
    const phone = await newWatchedContext(browser, PHONE);
    const page = await phone.context.newPage();
    await page.goto(started.verification_uri_complete!);
    await page.waitForSelector('h1:has-text("Izinkan Kios Antrean Dispendukcapil masuk dengan akun Anda?")');
    await expect(page.locator('main').textContent()).resolves.toContain('Layanan Dispendukcapil.');
    await expect(page.locator('main').textContent()).resolves.toContain(started.user_code);
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[name="confirm"]')]);

    await page.fill('#identifier', SITI.email);
    await page.fill('#password', SITI.password);
    await Promise.all([page.waitForSelector('h1:has-text("Kios sudah masuk")'), page.click('form[action$="/login"] [type="submit"]')]);

    const tokens = await polling;
    expect(tokens.refresh_token).toBeUndefined();
    expect((await oidc.fetchUserInfo(kiosk, tokens.access_token, tokens.claims()!.sub)).name).toBe(SITI.name);
    expect([...phone.watcher.problems(), ...kioskContext.watcher.problems()]).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('Batal on the phone: the kiosk hears access_denied', async () => {
    const started = await oidc.initiateDeviceAuthorization(kiosk, { scope: 'openid' });
    const phone = await newWatchedContext(browser, PHONE);
    const page = await phone.context.newPage();
    await page.goto(`${server.url}/device`);
    await page.fill('#user_code', started.user_code.replace('-', '').toLowerCase());
    await Promise.all([page.waitForSelector('button[name="abort"]'), page.click('main form [type="submit"]')]);
    await Promise.all([page.waitForSelector('text=Dibatalkan: kios tidak masuk dengan akun Anda.'), page.click('button[name="abort"]')]);
    await expect(oidc.pollDeviceAuthorizationGrant(kiosk, { ...started, interval: 0.2 })).rejects.toMatchObject({ error: 'access_denied' });
    expect(phone.watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);
});
