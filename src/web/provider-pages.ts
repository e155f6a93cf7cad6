import type { KoaContextWithOIDC } from 'oidc-provider';
import type { DeviceCodeProblem, ProviderPages } from '../oidc/provider.js';
import { isStorableId } from '../oidc/adapter.js';
import type { ClientStore } from '../clients/clients.js';
import { isDatabaseUnavailable } from '../db/db.js';
import { LANGS, translator } from '../i18n.js';
import { render } from './render.js';
import { allowFrames } from './security-headers.js';

/** The problems of the user-code page that are the person's input (a 400), not a cancellation. */
const BAD_CODE: ReadonlySet<DeviceCodeProblem> = new Set(['missing', 'not_found', 'expired', 'used']);

/** The client_id a request to the provider names (its parameters, else the query string), if it could be one. */
function requestedClientId(ctx: KoaContextWithOIDC): string | undefined {
  const named = ctx.oidc?.params?.client_id ?? ctx.query.client_id;
  return isStorableId(named) ? named : undefined;
}

/**
 * The pages oidc-provider shows a person, in our layout and the person's language (wired in
 * instance.ts); the kiosk's pages name the kiosk and its unit (clients.describe).
 */
export const createProviderPages = (clients: Pick<ClientStore, 'describe'>): ProviderPages => ({
  // Protocol errors shown to a person: a plain message in their language, and the OAuth error
  // (code and description, never a stack) for whoever has to report it. The database out of
  // reach: 503 and "try again shortly", as our own pages say.
  // A service that is not (or no longer) served, such as a suspended one: that it cannot be used
  // through Kediri ID now and whom to ask, not "invalid data, try again".
  async renderError(ctx, out, error) {
    const t = translator(ctx.state.lang);
    if (isDatabaseUnavailable(error)) return render(ctx, 'error', { message: t('common.error.unavailable') }, 503);
    const status = ctx.status >= 400 ? ctx.status : 400;
    const detail = [out.error, out.error_description].filter(Boolean).join(': ');
    if (out.error === 'invalid_client') {
      const clientId = requestedClientId(ctx);
      const client = clientId ? await clients.describe(clientId) : undefined;
      const message = client ? t('login.client_unavailable.message', { client: client.name, unit: client.unitName }) : t('login.client_unknown');
      return render(ctx, 'error', { heading: t('login.client_unavailable.heading'), message, detail }, status);
    }
    render(ctx, 'error', { message: t(status >= 500 ? 'common.error.server' : 'common.error.bad_request'), detail }, status);
  },

  logoutSource(ctx, form) {
    render(ctx, 'logout/confirm', { form, clientName: ctx.oidc.client?.clientName });
  },

  postLogoutSuccessSource(ctx) {
    render(ctx, 'logout/done', { clientName: ctx.oidc.client?.clientName });
  },

  // The frames may only load the front-channel clients' origins.
  frontchannelLogout(ctx, frames, onward) {
    render(ctx, 'logout/done', { frames, onward });
    allowFrames(ctx, frames.map((uri) => new URL(uri).origin));
  },

  async deviceCodeInput(ctx, { action, xsrf, userCode, problem }) {
    const status = problem === undefined || problem === 'cancelled' ? 200 : BAD_CODE.has(problem) ? 400 : Math.max(ctx.status, 400);
    render(ctx, 'device/code', { action, xsrf, userCode, problem }, status);
  },

  // The language link of the confirmation opens the code again (GET /device?user_code=), as a
  // scanned QR code does: the provider's form is good for one page only.
  async deviceCodeConfirm(ctx, { action, xsrf, userCode, clientId, scopes }) {
    const client = await clients.describe(clientId);
    if (!client) throw new Error(`the kiosk ${clientId} has no client row`);
    const other = LANGS.find((lang) => lang !== ctx.state.lang)!;
    const switchLang = { lang: other, href: `${new URL(action).pathname}?${new URLSearchParams({ user_code: userCode, lang: other })}` };
    render(ctx, 'device/confirm', { action, xsrf, userCode, client, scopes, switchLang });
  },

  async deviceCodeSuccess(ctx, clientId) {
    render(ctx, 'device/done', { clientName: (await clients.describe(clientId))?.name ?? clientId });
  },
});
