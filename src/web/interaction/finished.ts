import type { Context, Next } from 'koa';
import { errors } from 'oidc-provider';
import { translator } from '../../i18n.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { render } from '../render.js';
import type { ClientOnPage } from './context.js';

/** A sign-in this browser finished: its interaction, the service, and the origin of the redirect URI it went back to ('' if none to link to). */
interface FinishedSignIn {
  uid: string;
  clientId: string;
  origin: string;
}

/** Kept as long as the provider's own interaction cookie (its Interaction lifetime, provider.ts). */
const finishedSignIn = jsonCookie('kid.finished', 15 * 60 * 1000, (v): v is FinishedSignIn => hasFields(v, { uid: 'string', clientId: 'string', origin: 'string' }));

/** Remembers, for this interaction's pages only, that this browser finished its sign-in (Interaction.finish). */
export function rememberFinishedSignIn(ctx: Context, uid: string, clientId: string, redirectUri: unknown): void {
  const redirect = URL.parse(String(redirectUri));
  const origin = redirect && (redirect.protocol === 'https:' || redirect.protocol === 'http:') ? redirect.origin : '';
  finishedSignIn.set(ctx, { uid, clientId, origin }, `/interaction/${uid}`);
}

/**
 * A page of a sign-in this browser finished (Back after it, or its address opened again): the
 * provider knows the interaction no more (SessionNotFound), so instead of "your sign-in has timed
 * out" the page says it is finished and links back to the service (its redirect URI's origin),
 * or to /akun for Kediri ID's own pages. A form of it posted again is a 409.
 */
export function finishedSignInPage(nameClient: (ctx: Context, clientId: string) => Promise<ClientOnPage>) {
  return async function finishedSignInPageMiddleware(ctx: Context, next: Next) {
    try {
      await next();
    } catch (error) {
      const finished = error instanceof errors.SessionNotFound ? finishedSignIn.get(ctx) : undefined;
      if (!finished || finished.uid !== ctx.params.uid) throw error;
      const t = translator(ctx.state.lang);
      const client = await nameClient(ctx, finished.clientId);
      const href = client.portal ? '/akun' : finished.origin || '/';
      render(ctx, 'error', {
        title: t('login.finished.title'),
        heading: t('login.finished.heading'),
        message: t('login.finished.message', { client: client.name }),
        link: { href, text: t(href === '/' ? 'login.finished.home' : 'login.finished.back', { client: client.name }) },
      }, ctx.method === 'GET' ? 200 : 409);
    }
  };
}
