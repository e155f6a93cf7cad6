import type { Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Client, KoaContextWithOIDC, Session } from 'oidc-provider';
import type { Db } from '../db/db.js';
import { frontchannelLogoutUris } from '../clients/clients.js';
import type { Logger } from '../log.js';
import type { SigningKeys } from './keys.js';
import type { AttemptResult, LogoutDelivery, LogoutOutbox } from './logout-outbox.js';
import { isOutboundRefusal } from './outbound.js';
import type { ProviderPages } from './provider.js';

/*
 * Single logout. Back-channel: oidc-provider makes and sends the logout tokens (Client#backchannelLogout:
 * the same sub as the client's ID tokens, public or pairwise; sid when the client asked for it;
 * signed with the current key, typ logout+jwt, two minutes to live), through its `fetch` option,
 * which is the outbound allowlist. At RP-initiated logout the provider tries each client at once;
 * the outbox (logout-outbox.ts) records that attempt, and this module retries what failed and
 * delivers the logouts of sessions ended elsewhere (the account page, a password change or reset,
 * an administrator's lock). Front-channel, for the clients that registered a
 * frontchannel_logout_uri: an iframe each on the page shown after logout, best effort.
 */

/** The provider's own method (its /session/end calls it); its type definitions leave it out. */
type LogoutSender = Client & { backchannelLogout(sub: string, sid: string): Promise<void> };

/** Seconds the front-channel page stays before it continues to the relying party. */
const FRAME_SECONDS = 3;

function resultOf(error: unknown, uri: string | undefined): AttemptResult {
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  const message = `${error instanceof Error ? error.message : String(error)}${cause}`.slice(0, 500);
  return isOutboundRefusal(error) ? { outcome: 'abandoned', uri, error: `refused: ${message}` } : { outcome: 'failed', uri, error: message };
}

interface SingleLogoutDeps {
  provider: Provider;
  outbox: LogoutOutbox;
  signingKeys: SigningKeys;
  db: Db;
  issuer: string;
  log: Logger;
  /** The page with the front-channel frames (web/provider-pages.ts). */
  pages: Pick<ProviderPages, 'frontchannelLogout'>;
}

export function createSingleLogout({ provider, outbox, signingKeys, db, issuer, log, pages }: SingleLogoutDeps) {
  function record(client: Client, accountId: string, sid: string | undefined, result: AttemptResult): void {
    // A client that only began an authorization in the session has no sid there: the provider's
    // token named the account alone, and there is no session of that client to retry for.
    if (!sid) return;
    if (result.outcome !== 'delivered') log.warn({ clientId: client.clientId, reason: result.error }, 'back-channel logout failed');
    outbox
      .recordFirstAttempt({ clientId: client.clientId, accountId, sid }, result)
      .catch((err: unknown) => log.error({ err, clientId: client.clientId }, 'back-channel logout not recorded'));
  }
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => record(client, accountId, sid, { outcome: 'delivered', uri: client.backchannelLogoutUri! }));
  provider.on('backchannel.error', (_ctx, error, client, accountId, sid) => record(client, accountId, sid, resultOf(error, client.backchannelLogoutUri!)));

  async function attempt(delivery: LogoutDelivery): Promise<AttemptResult> {
    let uri: string | undefined;
    try {
      const client = await provider.Client.find(delivery.clientId);
      if (!client?.backchannelLogoutUri) return { outcome: 'abandoned', uri: undefined, error: 'the client is not active or has no backchannel_logout_uri' };
      uri = client.backchannelLogoutUri;
      await (client as LogoutSender).backchannelLogout(delivery.accountId, delivery.sid);
      return { outcome: 'delivered', uri };
    } catch (error) {
      return resultOf(error, uri);
    }
  }

  /** After a logout that ended the whole session: the participants' front-channel logout URIs. */
  async function frontchannelUris(authorizations: NonNullable<Session['authorizations']>): Promise<string[]> {
    const clients = await frontchannelLogoutUris(db, Object.keys(authorizations));
    return clients.flatMap(({ clientId, uri, withSession }) => {
      const url = URL.parse(uri);
      if (!url || !['https:', 'http:'].includes(url.protocol)) return [];
      const sid = authorizations[clientId]?.sid;
      if (withSession && sid) {
        url.searchParams.set('iss', issuer);
        url.searchParams.set('sid', sid);
      }
      return [url.href];
    });
  }

  // The provider redirects after ending the session at /session/end/confirm; where clients
  // registered front-channel logout, the page with their iframes comes first (and continues to
  // the redirect after a few seconds, or at once with its link). Browsers that block third-party
  // cookies make this best effort.
  provider.use(async (koaCtx, next: Next) => {
    await next();
    const ctx = koaCtx as KoaContextWithOIDC;
    const { oidc } = ctx;
    if (oidc?.route !== 'end_session_confirm' || ctx.status !== 303 || !oidc.params?.logout || !oidc.session?.authorizations) return;
    const frames = await frontchannelUris(oidc.session.authorizations);
    if (frames.length === 0) return;
    const target = ctx.response.get('Location');
    ctx.remove('Location');
    // Onward to the relying party's post_logout_redirect_uri, or back to the sign-in that ended the
    // session (a login as another account in this browser); the provider's own "signed out" page is this one.
    const onward = target.startsWith(oidc.urlFor('end_session_success')) ? undefined : target;
    if (onward) ctx.set('Refresh', `${FRAME_SECONDS}; url=${onward}`);
    pages.frontchannelLogout(ctx, frames, onward);
  });

  return {
    /** Delivers the back-channel logouts due at `now` (a later `now` lets tests skip the waits). */
    async deliverDue(now = new Date()): Promise<number> {
      const due = await outbox.claimDue(now);
      if (due.length === 0) return 0;
      await signingKeys.fresh();
      await Promise.all(
        due.map(async (delivery) => {
          const result = await attempt(delivery);
          if (result.outcome !== 'delivered') {
            log.warn({ clientId: delivery.clientId, attempts: delivery.attempts, reason: result.error }, 'back-channel logout failed');
          }
          await outbox.recordAttempt(delivery, result, now);
        }),
      );
      return due.length;
    },
  };
}

export type SingleLogout = ReturnType<typeof createSingleLogout>;
