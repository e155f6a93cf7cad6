/**
 * From Kediri ID's home page into a unit's service, in a real browser (Debian's Chromium): the
 * citizen signs in on the home page, which then lists the service they used; "Buka" opens it by
 * third-party initiated login (/layanan/masuk/CLIENT_ID -> the service's initiate_login_uri with
 * iss -> an ordinary authorization request), and the Kediri ID session signs them in at the
 * service without a password. The service is the integration kit's example relying party
 * (examples/relying-party), whose /login is its initiate-login endpoint.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createExampleApp } from '../../examples/relying-party/app.js';
import { describeWithBrowser, launchBrowser, newWatchedContext } from '../support/browser.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JOURNEY_TIMEOUT = 120_000;
const SEARCH = "Cari";

describeWithBrowser('from the home page into a service by third-party initiated login, with Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let service: http.Server;
  let origin: string;
  let clientId: string;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await createCitizen(server.instance);
    service = http.createServer();
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
    const client = await createWebClient(server.instance, {
      unit: 'bppkad',
      name: 'Pajak Daerah Online',
      redirectUris: [`${origin}/callback`],
      postLogoutRedirectUris: [`${origin}/signed-out`],
      initiateLoginUri: `${origin}/login`,
      scope: 'openid profile',
    });
    clientId = client.clientId;
    const app = await createExampleApp({
      issuer: server.url,
      clientId,
      clientSecret: client.clientSecret,
      redirectUri: `${origin}/callback`,
      postLogoutRedirectUri: `${origin}/signed-out`,
      scope: 'openid profile',
    });
    service.on('request', app.callback());
    ({ context } = await newWatchedContext(browser));
    page = await context.newPage();
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    service?.closeAllConnections();
    await new Promise((resolve) => service?.close(resolve));
    await server?.close();
  });

  const heading = () => page.getByRole('heading', { level: 1 }).textContent();

  test('signed in on the home page, "Buka" signs the citizen in at the service without a password', async () => {
    // Used once before (the service's own sign-in link, with the password and consent).
    await page.goto(`${origin}/login`);
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.email);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    await page.waitForURL((url) => url.origin === origin && url.pathname === '/');
    await expect(heading()).resolves.toBe(`Signed in as ${SITI.name}`);
    // Signed out at the service only (its local session); the Kediri ID session stays.
    await context.clearCookies({ domain: '127.0.0.1', name: 'example_session' });
    await page.goto(origin);
    await expect(heading()).resolves.toBe('Signed out');

    // Kediri ID's home page: "Masuk" signs in to Kediri ID (the session does it, no password).
    await page.goto(server.url);
    await page.getByRole('link', { name: 'Masuk', exact: true }).click();
    await page.waitForURL((url) => url.href === `${server.url}/`);
    await expect(heading()).resolves.toBe(`Halo, ${SITI.name}`);

    // The service used is listed; one click opens it, signed in, with no password typed.
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.getByRole('link', { name: 'Buka Pajak Daerah Online', exact: true }).click();
    await page.waitForURL((url) => url.origin === origin && url.pathname === '/');
    await expect(heading()).resolves.toBe(`Signed in as ${SITI.name}`);
    const initiate = new URL(requests.find((url) => url.startsWith(`${origin}/login`))!);
    expect(initiate.searchParams.get('iss')).toBe(server.url);
    expect(requests.some((url) => url.startsWith(`${server.url}/auth?`))).toBe(true);
    expect(requests.some((url) => url.includes('/interaction/'))).toBe(false);
  }, JOURNEY_TIMEOUT);

  test('from the home page to the catalogue: a search finds the service, and "Masuk" opens it signed in', async () => {
    await server.instance.catalogue.create({
      unit: 'bppkad', name: 'Pajak Bumi dan Bangunan', description_id: 'Cek dan bayar PBB secara online.',
      description_en: 'Check and pay the land and building tax online.', kind: 'online', client_id: clientId, acr: 'urn:kediri:acr:basic',
    }, 'test');
    await context.clearCookies({ domain: '127.0.0.1', name: 'example_session' });
    await page.goto(server.url);
    await page.getByRole('link', { name: 'Lihat semua layanan Mal Pelayanan Publik', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/layanan');
    // Searched without a script: a GET form.
    await page.getByLabel('Cari layanan', { exact: true }).fill('pbb');
    await page.getByRole('button', { name: SEARCH, exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/layanan' && url.searchParams.get('q') === 'pbb');
    await page.getByRole('link', { name: 'Masuk ke Pajak Bumi dan Bangunan', exact: true }).click();
    await page.waitForURL((url) => url.origin === origin && url.pathname === '/');
    await expect(heading()).resolves.toBe(`Signed in as ${SITI.name}`);
  }, JOURNEY_TIMEOUT);
});
