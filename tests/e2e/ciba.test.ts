/**
 * The MPP counter asks the citizen in front of it to confirm on their own phone (OpenID Connect
 * CIBA, poll mode): the counter's system is openid-client in the test; the citizen's phone is a
 * second browser context (360x740) signed in to /akun, where the counter's binding message shows
 * and the citizen approves (the poll gets tokens) or denies (access_denied).
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, launchBrowser, newWatchedContext, type Watcher } from '../support/browser.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JOURNEY_TIMEOUT = 120_000;

describeWithBrowser('the counter asks, the citizen confirms on their phone (CIBA), in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let counter: oidc.Configuration;
  let phone: { context: BrowserContext; page: Page; watcher: Watcher };

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await createCitizen(server.instance);
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Loket Dispendukcapil', scope: 'openid profile' });
    await server.instance.clientRequests.setProfile(clientId, { subjectType: 'public', highAssurance: false, ciba: true, kiosk: false }, 'test', '127.0.0.1');
    counter = await relyingParty(server.url, clientId, clientSecret);

    // The citizen's phone, signed in to /akun.
    const { context, watcher } = await newWatchedContext(browser, { viewport: { width: 360, height: 740 } });
    const page = await context.newPage();
    phone = { context, page, watcher };
    await page.goto(`${server.url}/akun`);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.waitForURL((url) => url.origin === server.url && url.pathname === '/akun');
  }, JOURNEY_TIMEOUT);

  afterAll(async () => {
    await phone?.context.close().catch(() => undefined);
    await browser?.close();
    await server?.close();
  });

  /** The counter starts a request and polls (quickly: the server names no interval) until it has an answer. */
  async function counterAsks(bindingMessage: string) {
    const response = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid profile', login_hint: SITI.nik, binding_message: bindingMessage });
    const answer = oidc.pollBackchannelAuthenticationGrant(counter, { ...response, interval: 0.2 }, undefined, { signal: AbortSignal.timeout(60_000) });
    answer.catch(() => undefined); // awaited by the test; a rejection is its result
    // In an object: an async function's own promise would reject unhandled meanwhile.
    return { answer, id: response.auth_req_id };
  }

  /** The citizen reloads /akun and answers the request showing this binding message. */
  async function citizenAnswers(bindingMessage: string, button: 'Setujui' | 'Tolak') {
    const { page } = phone;
    await page.goto(`${server.url}/akun`);
    await expect(page.getByRole('heading', { name: 'Permintaan konfirmasi dari loket' }).isVisible()).resolves.toBe(true);
    const request = page.locator('.confirmation').filter({ hasText: bindingMessage });
    await expect(request.getByText('Loket Dispendukcapil').isVisible()).resolves.toBe(true);
    await expect(request.locator('.binding-message').textContent()).resolves.toBe(bindingMessage);
    await request.getByRole('button', { name: button, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/akun' && url.search === (button === 'Setujui' ? '?disetujui=1' : '?ditolak=1'));
    await expect(page.getByRole('status').textContent()).resolves.toContain(button === 'Setujui' ? 'sudah disetujui' : 'sudah ditolak');
    await expect(page.getByText(bindingMessage).count()).resolves.toBe(0);
  }

  test('approved on the phone: the counter gets tokens for the citizen', async () => {
    const { answer } = await counterAsks('LOKET 3 A-17');
    await citizenAnswers('LOKET 3 A-17', 'Setujui');
    const tokens = await answer;
    const userinfo = await oidc.fetchUserInfo(counter, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo.name).toBe(SITI.name);
    expect(phone.watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('denied on the phone: the counter gets access_denied', async () => {
    const { answer } = await counterAsks('LOKET 4 B-02');
    await citizenAnswers('LOKET 4 B-02', 'Tolak');
    await expect(answer).rejects.toMatchObject({ error: 'access_denied' });
    expect(phone.watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);

  test('not answered in time: the phone no longer shows it, and the counter gets expired_token', async () => {
    const { answer, id } = await counterAsks('LOKET 5 C-09');
    const { page } = phone;
    await page.goto(`${server.url}/akun`);
    await expect(page.locator('.confirmation').filter({ hasText: 'LOKET 5 C-09' }).count()).resolves.toBe(1);
    // As if its five minutes had passed.
    await server.instance.db.query(
      `update oidc_payloads set payload = jsonb_set(payload, '{exp}', to_jsonb(floor(extract(epoch from now()))::int - 1))
       where model = 'BackchannelAuthenticationRequest' and id = $1`,
      [id],
    );
    await expect(answer).rejects.toMatchObject({ error: 'expired_token' });
    await page.goto(`${server.url}/akun`);
    await expect(page.getByText('LOKET 5 C-09').count()).resolves.toBe(0);
    expect(phone.watcher.problems()).toEqual([]);
  }, JOURNEY_TIMEOUT);
});
