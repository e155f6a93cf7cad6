import type Provider from 'oidc-provider';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Audit } from '../audit/audit.js';
import { CIBA_GRANT, type ClientDescription, type ClientStore } from '../clients/clients.js';
import type { Db } from '../db/db.js';
import { ACR } from '../identity/assurance.js';
import type { CitizenNotices } from '../identity/citizen-notices.js';
import type { CitizenStore } from '../identity/citizens.js';
import { parseNik } from '../identity/nik.js';
import { pendingBackchannelRequests, type PendingBackchannelRequest } from './payloads.js';

/*
 * Client-initiated backchannel authentication (OpenID Connect CIBA, poll mode): an MPP counter's
 * system names the citizen in front of the officer by NIK (login_hint) with a short binding
 * message shown on both screens; the request waits on the citizen's account page (/akun) and is
 * announced by a notice; the citizen approves (a grant for the requested scopes) or denies
 * (access_denied); the counter polls the token endpoint. Only clients an administrator enabled
 * (clients.ciba, clients.ts) hold the grant type.
 */

/** How long a request waits for the citizen (a client may ask for less with requested_expiry, down to a minute). */
export const CIBA_REQUEST_SECONDS = 5 * 60;
const CIBA_REQUEST_MIN_SECONDS = 60;

/** A binding message: 1 to 24 letters, digits, spaces and . : # / - (fits one SMS line, no lookalikes of markup). */
const BINDING_MESSAGE = /^[A-Za-z0-9][A-Za-z0-9 .:#/-]{0,23}$/;

type CibaFeature = NonNullable<NonNullable<Configuration['features']>['ciba']>;

/**
 * The request's lifetime: CIBA_REQUEST_SECONDS, or the client's requested_expiry when shorter, but
 * a minute at least (a citizen has one request waiting at a time, so this also spaces the
 * announcements a counter can cause).
 */
export function cibaRequestTtl(ctx: KoaContextWithOIDC | undefined): number {
  const requested = Number(ctx?.oidc?.params?.requested_expiry);
  if (!Number.isSafeInteger(requested) || requested <= 0) return CIBA_REQUEST_SECONDS;
  return Math.max(CIBA_REQUEST_MIN_SECONDS, Math.min(requested, CIBA_REQUEST_SECONDS));
}

/** features.ciba of the provider's configuration. */
export function cibaFeature({ db, citizens, notices, audit }: { db: Db; citizens: CitizenStore; notices: CitizenNotices; audit: Audit }): CibaFeature {
  return {
    enabled: true,
    deliveryModes: ['poll'],

    // The NIK, checked like a login identifier and found by its keyed hash. It then leaves the
    // request's parameters: the stored request (oidc_payloads) must not carry it in clear.
    async processLoginHint(ctx, loginHint) {
      const nik = (loginHint ?? '').trim();
      if (!parseNik(nik).ok) throw new errors.InvalidRequest('login_hint must be a valid NIK');
      ctx.oidc.params!.login_hint = undefined;
      // Unknown (or not active: findAccount's check) gives unknown_user_id.
      const accountId = (await citizens.findByNik(nik))?.id;
      // One request waits at a time: no counter can pile requests (and announcements) on a citizen.
      if (accountId && (await pendingBackchannelRequests(db, accountId)).length > 0) {
        throw new errors.InvalidRequest('a confirmation request already waits for this citizen: wait for its answer or its expiry');
      }
      return accountId;
    },
    async processLoginHintToken() {
      throw new errors.InvalidRequest('login_hint_token is not supported: use login_hint with the NIK');
    },

    // Clients cannot register backchannel_user_code_parameter: nothing to check.
    async verifyUserCode() {},
    // request_context is not used.
    async validateRequestContext() {},

    async validateBindingMessage(_ctx, bindingMessage) {
      if (bindingMessage === undefined || bindingMessage === '') throw new errors.InvalidBindingMessage('binding_message is required');
      if (!BINDING_MESSAGE.test(bindingMessage)) {
        throw new errors.InvalidBindingMessage('binding_message must be 1 to 24 letters, digits, spaces or . : # / - and start with a letter or digit');
      }
    },

    async triggerAuthenticationDevice(ctx, request, account, client) {
      const citizen = await citizens.findById(account.accountId);
      if (!citizen) return;
      await audit({ type: 'ciba.requested', citizenId: citizen.id, clientId: client.clientId, ip: ctx.ip, details: { scope: request.scope } });
      await notices.send(citizen, 'ciba_request');
    },
  };
}

/**
 * Answers a client that asks for the CIBA grant without being enabled with CIBA's
 * unauthorized_client (oidc-provider answers invalid_request): provider middleware.
 */
export async function cibaUnauthorizedClient(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (ctx.oidc?.route === 'backchannel_authentication' && ctx.status === 400 && body?.error === 'invalid_request'
    && body.error_description === `${CIBA_GRANT} is not allowed for this client`) {
    ctx.body = { error: 'unauthorized_client', error_description: 'this client is not enabled for backchannel authentication' };
  }
}

/** A request as the citizen's account page shows it. */
export interface Confirmation extends PendingBackchannelRequest {
  service: ClientDescription;
  scopes: string[];
}

/** The citizen's side: the requests waiting for them, and their answer to one of them. */
export function createCibaConfirmations({ provider, db, clients, audit }: { provider: Provider; db: Db; clients: ClientStore; audit: Audit }) {
  return {
    /** The citizen's requests that wait for an answer (a request whose client is gone is left out). */
    async pending(accountId: string): Promise<Confirmation[]> {
      const requests = await pendingBackchannelRequests(db, accountId);
      const described = await Promise.all(requests.map(async (request) => ({ request, service: await clients.describe(request.clientId) })));
      return described.flatMap(({ request, service }) =>
        service ? [{ ...request, service, scopes: request.scope.split(' ').filter((s) => s && s !== 'openid') }] : [],
      );
    },

    /**
     * The citizen's answer to one of their own requests: approve gives the client a grant of the
     * requested scopes (at the basic level: one tap on a signed-in session), deny access_denied.
     * False when it is not this citizen's, or no longer waits (answered, collected or expired).
     */
    async answer(accountId: string, id: string, approve: boolean, ip: string): Promise<boolean> {
      const [pending] = await pendingBackchannelRequests(db, accountId, id);
      if (!pending) return false;
      const request = await provider.BackchannelAuthenticationRequest.find(id);
      if (!request || request.accountId !== accountId || request.isExpired) return false;
      if (approve) {
        const grant = new provider.Grant({ clientId: request.clientId, accountId });
        grant.addOIDCScope(String(request.scope));
        const claims = request.claims as { id_token?: Record<string, unknown>; userinfo?: Record<string, unknown> } | undefined;
        const requestedClaims = [...Object.keys(claims?.id_token ?? {}), ...Object.keys(claims?.userinfo ?? {})];
        if (requestedClaims.length) grant.addOIDCClaims(requestedClaims);
        await grant.save();
        await provider.backchannelResult(request, grant, { acr: ACR.basic, authTime: Math.floor(Date.now() / 1000) });
      } else {
        await provider.backchannelResult(request, new errors.AccessDenied('the citizen denied the request'));
      }
      await audit({ type: approve ? 'ciba.approved' : 'ciba.denied', citizenId: accountId, clientId: request.clientId, ip, details: { scope: request.scope } });
      return true;
    },
  };
}

export type CibaConfirmations = ReturnType<typeof createCibaConfirmations>;
