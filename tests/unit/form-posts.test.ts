/**
 * The form check that every state-changing route of our routers gets (src/web/csrf.ts): a route
 * added to any router, in any area, is protected without calling anything by hand; its guards
 * still answer first; JSON endpoints opt out by name only.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { checkFormPosts, csrfProtection } from '../../src/web/csrf.js';
import { acceptUpload } from '../../src/web/upload.js';

let url: string;
let server: http.Server;
/** What the handlers ran with: a handler that never ran changed nothing. */
const handled: unknown[] = [];

beforeAll(async () => {
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      ctx.status = (error as { status?: number }).status ?? 500;
      ctx.body = ctx.status === 403 ? 'refused' : 'failed';
    }
  });
  app.use(csrfProtection('a-server-key-for-this-test-only', false));

  // A new area, as a future issue would add it: no body parser, no CSRF call of its own.
  const area = new Router({ prefix: '/area-baru' });
  area.get('/', (ctx) => {
    ctx.body = ctx.state.csrf.token();
  });
  area.post('/simpan', (ctx) => {
    handled.push(ctx.request.body);
    ctx.body = 'saved';
  });
  const signedInOnly: Koa.Middleware = (ctx, next) => (ctx.get('x-signed-in') ? next() : ctx.redirect('/masuk'));
  area.post('/rahasia', signedInOnly, (ctx) => {
    handled.push('rahasia');
    ctx.body = 'saved';
  });
  area.post('/logo', acceptUpload('logo', 1000), (ctx) => {
    handled.push((ctx.state.upload as Buffer | undefined)?.toString());
    ctx.body = 'saved';
  });
  const api = new Router({ prefix: '/api' });
  api.post('api.create', '/', (ctx) => {
    handled.push('api');
    ctx.body = { created: true };
  });

  checkFormPosts([area, api], ['api.create']);
  app.use(area.routes());
  app.use(api.routes());
  server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

/** A page of the area hands out a token and the cookie it belongs to. */
async function formToken(): Promise<{ token: string; cookie: string }> {
  const res = await fetch(`${url}/area-baru`);
  return { token: await res.text(), cookie: res.headers.get('set-cookie')!.split(';')[0]! };
}

const post = (path: string, body: string | FormData, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: typeof body === 'string' ? { 'content-type': 'application/x-www-form-urlencoded', ...headers } : headers,
    body,
  });

test('a new route reads its form and is refused without the token, with a forged one, and with another browser\'s', async () => {
  handled.length = 0;
  const mine = await formToken();
  const theirs = await formToken();
  expect((await post('/area-baru/simpan', 'name=Siti', { cookie: mine.cookie })).status).toBe(403);
  expect((await post('/area-baru/simpan', `name=Siti&_csrf=${'A'.repeat(43)}`, { cookie: mine.cookie })).status).toBe(403);
  expect((await post('/area-baru/simpan', `name=Siti&_csrf=${theirs.token}`, { cookie: mine.cookie })).status).toBe(403);
  expect(handled).toEqual([]);

  const res = await post('/area-baru/simpan', `name=Siti&_csrf=${mine.token}`, { cookie: mine.cookie });
  expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body: 'saved' });
  expect(handled).toEqual([{ name: 'Siti', _csrf: mine.token }]);
});

test("a route's guard answers before the check: a signed-out browser is sent to sign in", async () => {
  handled.length = 0;
  const res = await post('/area-baru/rahasia', 'x=1');
  expect({ status: res.status, location: res.headers.get('location') }).toEqual({ status: 302, location: '/masuk' });
  const { token, cookie } = await formToken();
  expect((await post('/area-baru/rahasia', 'x=1', { cookie, 'x-signed-in': '1' })).status).toBe(403);
  expect((await post('/area-baru/rahasia', `x=1&_csrf=${token}`, { cookie, 'x-signed-in': '1' })).status).toBe(200);
  expect(handled).toEqual(['rahasia']);
});

test('an upload carries its token among its fields', async () => {
  handled.length = 0;
  const { token, cookie } = await formToken();
  const form = (withToken: boolean) => {
    const data = new FormData();
    if (withToken) data.set('_csrf', token);
    data.set('logo', new Blob(['PNG bytes']), 'logo.png');
    return data;
  };
  expect((await post('/area-baru/logo', form(false), { cookie })).status).toBe(403);
  expect((await post('/area-baru/logo', form(true), { cookie })).status).toBe(200);
  expect(handled).toEqual(['PNG bytes']);
});

test('a JSON endpoint opts out by its route name only', async () => {
  handled.length = 0;
  const res = await fetch(`${url}/api`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(await res.json()).toEqual({ created: true });
  expect(handled).toEqual(['api']);
});

test('an opt-out that names no state-changing route, or two, stops the start', () => {
  const router = new Router();
  router.post('real.name', '/x', (ctx) => {
    ctx.body = 'x';
  });
  expect(() => checkFormPosts([router], ['real.nmae'])).toThrow('0 state-changing routes are named real.nmae');
  const another = new Router();
  another.post('real.name', '/y', (ctx) => {
    ctx.body = 'y';
  });
  expect(() => checkFormPosts([router, another], ['real.name'])).toThrow('2 state-changing routes are named real.name');
});
