/**
 * Another person signs in on the same browser (Debian's Chromium): the first account's session
 * ends as a logout before the second login completes. The provider's page that posts the logout
 * runs its script under our CSP, and the first account's services get their back-channel logout.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createRemoteJWKSet } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeWithBrowser, landAtCallback, launchBrowser, newWatchedContext, type Watcher } from '../support/browser.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { logoutReceiver, verifyLogoutToken, type LogoutReceiver } from '../support/logout-receiver.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startRelyingPartyPages } from '../support/rp-pages.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

const BUDI = { nik: '3571010202850003', name: 'Budi Santoso', birthdate: '1985-02-02', email: 'budi@example.id', password: 'sepeda-ke-gumul-tiap-minggu' };

describeWithBrowser('a login as another account in the same browser, with Chromium', () => {
  let server: TestServer;
  let rpPages: Awaited<ReturnType<typeof startRelyingPartyPages>>;
  let browser: Browser;
  let context: BrowserContext;
  let receiver: LogoutReceiver;

  beforeAll(async () => {
    [server, rpPages, browser, receiver] = await Promise.all([startTestServer({ OUTBOUND_ALLOW: '127.0.0.1' }), startRelyingPartyPages(), launchBrowser(), logoutReceiver()]);
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await Promise.all([server?.close(), rpPages?.close(), receiver?.close()]);
  });

  async function service(unit: string, name: string, backchannelLogoutUri?: string) {
    const { clientId, clientSecret } = await createWebClient(server.instance, { unit, name, redirectUris: [`${rpPages.origin}/callback`], backchannelLogoutUri });
    return { clientId, rp: await relyingParty(server.url, clientId, clientSecret) };
  }

  /** Signs in on the login page and allows access; returns the ID token's claims. */
  async function signIn(page: Page, watcher: Watcher, rp: oidc.Configuration, who: { nik: string; password: string }, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { redirect_uri: `${rpPages.origin}/callback`, ...params });
    await page.goto(request.url);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(who.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(who.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    const callback = await landAtCallback(page, watcher, rpPages.origin);
    return (await oidc.authorizationCodeGrant(rp, callback, request.checks)).claims()!;
  }

  test("the first account's service gets its back-channel logout, and the second login completes", async () => {
    const siti = (await createCitizen(server.instance)).id;
    const budi = (await createCitizen(server.instance, BUDI)).id;
    const akta = await service('dispendukcapil', 'Layanan Akta', receiver.uri);
    const izin = await service('dpmptsp', 'Layanan Izin');
    const created = await newWatchedContext(browser);
    context = created.context;
    const page = await context.newPage();

    const first = await signIn(page, created.watcher, akta.rp, SITI);
    expect(first.sub).toBe(pairwiseSubject(server.instance.sealer, 'dispendukcapil', siti));
    const second = await signIn(page, created.watcher, izin.rp, BUDI, { prompt: 'login' });
    expect(second.sub).toBe(pairwiseSubject(server.instance.sealer, 'dpmptsp', budi));
    expect(created.watcher.cspViolations()).toEqual([]);

    await server.instance.singleLogout.deliverDue(new Date(Date.now() + 10_000));
    expect(receiver.tokens).toHaveLength(1);
    const claims = await verifyLogoutToken(receiver.tokens[0]!, { issuer: server.url, clientId: akta.clientId, jwks: createRemoteJWKSet(new URL(`${server.url}/jwks`)) });
    expect({ sub: claims.sub, sid: claims.sid }).toEqual({ sub: first.sub, sid: first.sid });
  }, 120_000);
});
