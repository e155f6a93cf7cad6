import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { ClientStore } from '../../clients/clients.js';
import { InputError } from '../../errors.js';
import { isLang, translator, type Lang } from '../../i18n.js';
import { PORTAL_CLIENT_ID } from '../../oidc/portal-client.js';
import type { AttemptOrigin } from '../../identity/login-attempt.js';
import { allowFormActions } from '../security-headers.js';
import { rememberFinishedSignIn } from './finished.js';

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;
export type PromptName = 'login' | 'consent';

/** How the pages name the service being signed in to. */
export interface ClientOnPage {
  name: string;
  /** The unit that runs the service (none for Kediri ID's own portal). */
  unitName?: string;
  /** The unit's slug (none for Kediri ID's own portal). */
  unitSlug?: string;
  /**
   * Kediri ID's own pages (/akun, /loket, /admin): the person is on Kediri ID already, so the
   * pages offer no "cancel and go back to" the service.
   */
  portal?: boolean;
}

/**
 * How the pages name a client: a unit's service by its name and unit; Kediri ID's own portal as
 * "Akun Kediri ID" in the page's language.
 */
export async function clientOnPage(clients: Pick<ClientStore, 'describe'>, clientId: string, lang: Lang): Promise<ClientOnPage> {
  if (clientId === PORTAL_CLIENT_ID) return { name: translator(lang)('login.portal_name'), portal: true };
  // A client deleted since the sign-in began is named by its id.
  return (await clients.describe(clientId)) ?? { name: clientId };
}

/** The interaction a request belongs to, with what every step needs of it. */
export interface Interaction {
  uid: string;
  details: InteractionDetails;
  clientId: string;
  client: ClientOnPage;
  /** The attempt's origin for the audit log and the metrics. */
  origin: AttemptOrigin;
  /** The URL of one of this interaction's actions: `action('login')` is /interaction/<uid>/login. */
  action(step: string): string;
  /**
   * Records the interaction's result (merged with its last submission, unless it is an error) and
   * returns where the browser goes on to: what the provider's interactionResult does, without
   * reading the interaction a second time. A sign-in that succeeds is remembered for its pages
   * (finished.ts).
   */
  finish(result: InteractionResults): Promise<string>;
}

/**
 * Reads the interaction this browser is in. It must be the one the URL names, and at the prompt
 * a step expects when it names one. Also: the page's language from ui_locales (unless the person
 * chose one), and the relying party's origin allowed in form-action (the forms end in a redirect
 * to it).
 */
export function interactionReader(provider: Provider, clients: ClientStore) {
  return async function readInteraction(ctx: Context, prompt?: PromptName): Promise<Interaction> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new InputError('interaction_mismatch');
    if (prompt && details.prompt.name !== prompt) throw new InputError('interaction_prompt_mismatch');
    const uid = details.uid;
    ctx.state.pagePath = `/interaction/${uid}`;
    const redirect = URL.parse(String(details.params.redirect_uri));
    allowFormActions(ctx, redirect ? [redirect.origin] : []);
    if (!ctx.state.langChosen) {
      const asked = String(details.params.ui_locales ?? '').split(' ').map((l) => l.slice(0, 2)).find(isLang);
      if (asked) ctx.state.lang = asked;
    }
    const clientId = String(details.params.client_id);
    const client = await clientOnPage(clients, clientId, ctx.state.lang);
    return {
      uid,
      details,
      clientId,
      client,
      origin: { clientId, unit: client.unitSlug, ip: ctx.ip },
      action: (step) => `/interaction/${uid}/${step}`,
      async finish(result) {
        details.result = 'error' in result ? result : { ...details.lastSubmission, ...result };
        await details.save(details.exp - Math.floor(Date.now() / 1000));
        if (!('error' in result)) rememberFinishedSignIn(ctx, uid, clientId, details.params.redirect_uri);
        return details.returnTo;
      },
    };
  };
}

export type ReadInteraction = ReturnType<typeof interactionReader>;
