import Router from '@koa/router';
import { signInEntry } from '../clients/clients.js';
import { uriProblem } from '../clients/registration.js';
import type { Db } from '../db/db.js';
import { translator } from '../i18n.js';
import { seeOther } from './forms.js';
import { render } from './render.js';

/**
 * Opening a unit's service from Kediri ID (the home page, the service catalogue): OpenID Connect
 * third-party initiated login (Core §4). GET /layanan/masuk/CLIENT_ID sends the browser (303) to
 * the active client's initiate_login_uri with `iss` (our issuer) and, when the link carries one,
 * `target_link_uri`; the service checks iss and starts an ordinary authorization request, which
 * the browser's Kediri ID session completes without a password.
 *
 * No `login_hint`: our login page would accept the email, phone number or NIK, but each of them in
 * a URL to the service would hand it an identifier before the citizen agreed to share it (and a
 * NIK never goes in a URL); with a Kediri ID session the hint is not needed, and without one the
 * citizen types the identifier on our page. A client without initiate_login_uri gets its home: the
 * origin of its first redirect URI (registrations have no client_uri), and target_link_uri is
 * ignored. An unknown, suspended or pending client, or a service client (no redirect URI), is a 404.
 */
export function initiateLoginRoutes({ db, issuer }: { db: Db; issuer: string }): Router {
  const router = new Router();

  router.get('/layanan/masuk/:clientId', async (ctx) => {
    const t = translator(ctx.state.lang);
    const entry = await signInEntry(db, String(ctx.params.clientId));
    const home = entry?.redirectUris.map((uri) => `${URL.parse(uri)?.origin}/`).find((uri) => !uriProblem(uri));
    if (!entry || (!entry.initiateLoginUri && !home)) {
      return render(ctx, 'error', { heading: t('initiate-login.unknown.heading'), message: t('initiate-login.unknown.message'), backHref: '/' }, 404);
    }
    if (!entry.initiateLoginUri) return seeOther(ctx, home!);

    const target = new URL(entry.initiateLoginUri);
    target.searchParams.set('iss', issuer);
    const link = ctx.query.target_link_uri;
    if (link !== undefined) {
      // Only an address of the service itself (the origin of its initiate_login_uri or of a redirect
      // URI): the service must check it too (Core §4), but our link is not to be an open redirect.
      const origins = new Set([entry.initiateLoginUri, ...entry.redirectUris].map((uri) => URL.parse(uri)?.origin));
      const url = typeof link === 'string' && !uriProblem(link) ? new URL(link) : undefined;
      if (!url || !origins.has(url.origin)) {
        return render(ctx, 'error', { heading: t('initiate-login.target_invalid.heading'), message: t('initiate-login.target_invalid.message'), backHref: '/' }, 400);
      }
      target.searchParams.set('target_link_uri', url.href);
    }
    seeOther(ctx, target.href);
  });

  return router;
}
