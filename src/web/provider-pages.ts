import type { ProviderPages } from '../oidc/provider.js';
import { isDatabaseUnavailable } from '../db/db.js';
import { translator } from '../i18n.js';
import { render } from './render.js';
import { allowFrames } from './security-headers.js';

/** The pages oidc-provider shows a person, in our layout and the person's language (wired in instance.ts). */
export const providerPages: ProviderPages = {
  // Protocol errors shown to a person: a plain message in their language, and the OAuth error
  // (code and description, never a stack) for whoever has to report it. The database out of
  // reach: 503 and "try again shortly", as our own pages say.
  renderError(ctx, out, error) {
    const t = translator(ctx.state.lang);
    if (isDatabaseUnavailable(error)) return render(ctx, 'error', { message: t('common.error.unavailable') }, 503);
    const status = ctx.status >= 400 ? ctx.status : 400;
    const detail = [out.error, out.error_description].filter(Boolean).join(': ');
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
};
