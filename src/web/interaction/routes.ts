import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Audit } from '../../audit/audit.js';
import type { ClientStore } from '../../clients/clients.js';
import type { CitizenStore } from '../../identity/citizens.js';
import { PASSWORD_MAX } from '../../identity/password-policy.js';
import { acrForLogin, missingLevel } from '../../identity/assurance.js';
import type { Registration } from '../../identity/registration.js';
import type { IdentityVerification } from '../../identity/identity-verification.js';
import type { Citizen } from '../../identity/citizens.js';
import { maskEmail } from '../../email/sender.js';
import { pendingVerification } from '../register/verify-cookie.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { requireCsrf } from '../csrf.js';
import { InputError } from '../../errors.js';
import { isLang, translator } from '../../i18n.js';
import { render } from '../render.js';
import { allowFormActions } from '../security-headers.js';
import { firstRefusal } from '../throttling.js';
import type { Throttle } from '../../identity/throttle.js';
import type { SecondFactors } from '../../identity/second-factors.js';
import type { Passkeys } from '../../identity/passkeys.js';
import type { Outbox } from '../../email/outbox.js';
import { accountLockedEmail } from '../../email/messages.js';
import type { Config } from '../../config.js';
import type { Metrics } from '../../metrics.js';
import { parseForm, seeOther } from '../forms.js';

interface Deps {
  provider: Provider;
  citizens: CitizenStore;
  clients: ClientStore;
  registration: Registration;
  identityVerification: IdentityVerification | undefined;
  throttle: Throttle;
  secondFactors: SecondFactors;
  passkeys: Passkeys;
  outbox: Outbox;
  config: Config;
  audit: Audit;
  metrics: Metrics;
}

/** The unit of the service being signed in to (none for Kediri ID's own portal). */
const unitOf = (client: object): string | undefined => (client as { unitSlug?: string }).unitSlug;

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * The account that just signed in but does not reach the requested acr, for the online check that
 * the assurance page offers: bound to the interaction (u), with the checks made so far (n).
 */
interface PendingCheck {
  u: string;
  c: string;
  n: number;
  /** The second factor already used in this login, as its amr value ('' for none). */
  m: string;
}
const pendingCheck = jsonCookie('kid.assurance', 15 * 60 * 1000, (v): v is PendingCheck =>
  hasFields(v, { u: 'string', c: 'string', n: 'number', m: 'string' }),
);

/** The account whose password was right, waiting for its second factor in this interaction. */
interface PendingSecondFactor {
  u: string;
  c: string;
}
const pendingSecondFactor = jsonCookie('kid.mfa', 10 * 60 * 1000, (v): v is PendingSecondFactor =>
  hasFields(v, { u: 'string', c: 'string' }),
);
const secondFactorForm = z.object({ code: z.string().trim().max(40) });
const passkeyForm = z.object({ credential: z.string().max(8000) });
/** The amr value of the second factor used in a login (RFC 8176). */
type SecondFactorMethod = 'otp' | 'hwk' | 'swk';
const isSecondFactorMethod = (m: string): m is SecondFactorMethod => ['otp', 'hwk', 'swk'].includes(m);

/** Online population checks one interaction may make (each is a request to the population service). */
const MAX_ONLINE_CHECKS = 3;
const birthPlaceForm = z.object({ birth_place: z.string().trim().max(100) });

const loginForm = z.object({
  identifier: z.string().trim().max(254),
  password: z.string().max(PASSWORD_MAX * 4),
});

/** The login and consent pages that oidc-provider sends the browser to (/interaction/:uid). */
export function interactionRoutes(deps: Deps): Router {
  const { provider, citizens, clients, registration, identityVerification, throttle, secondFactors, passkeys, outbox, audit, metrics } = deps;
  const lockoutMinutes = deps.config.throttle.lockoutMinutes;
  const router = new Router({ prefix: '/interaction/:uid' });

  /** The interaction this browser is in; it must be the one the URL names. */
  async function interaction(ctx: Context, prompt?: 'login' | 'consent') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new InputError('interaction_mismatch');
    if (prompt && details.prompt.name !== prompt) throw new InputError('interaction_prompt_mismatch');
    ctx.state.pagePath = `/interaction/${details.uid}`;
    // The page's forms end in a redirect to the relying party: allow its origin in form-action.
    const redirect = URL.parse(String(details.params.redirect_uri));
    allowFormActions(ctx, redirect ? [redirect.origin] : []);
    if (!ctx.state.langChosen) {
      const asked = String(details.params.ui_locales ?? '').split(' ').map((l) => l.slice(0, 2)).find(isLang);
      if (asked) ctx.state.lang = asked;
    }
    const clientId = String(details.params.client_id);
    // Registered clients have a unit; the first-party staff client is Kediri ID's own.
    const client = (await clients.describe(clientId)) ?? {
      name: (await provider.Client.find(clientId))?.clientName ?? clientId,
      unitName: 'Diskominfo',
    };
    return { details, client, clientId };
  }

  const formActions = (uid: string, step: 'login' | 'consent') => ({
    action: `/interaction/${uid}/${step}`,
    abortAction: `/interaction/${uid}/abort`,
  });

  /** The second step: a passkey (with a fresh challenge) when the account has one, and a code field. */
  async function renderSecondFactor(ctx: Context, uid: string, client: object, citizenId: string, errors: object[] = [], status = 200) {
    const passkeyOptions = await passkeys.authenticationOptions(citizenId, uid);
    render(ctx, 'interaction/second-factor', {
      action: `/interaction/${uid}/otp`,
      passkeyAction: `/interaction/${uid}/passkey`,
      passkeyOptions: passkeyOptions && JSON.stringify(passkeyOptions),
      totp: (await secondFactors.summary(citizenId)).totp,
      abortAction: `/interaction/${uid}/abort`,
      client,
      errors,
    }, status);
  }

  function renderLogin(ctx: Context, uid: string, client: object, identifier = '', errors: object[] = [], status = 200) {
    const registerHref = `/daftar?lanjut=${encodeURIComponent(`/interaction/${uid}`)}`;
    render(ctx, 'interaction/login', { ...formActions(uid, 'login'), client, identifier, errors, registerHref }, status);
  }

  router.get('/', async (ctx) => {
    const { details, client } = await interaction(ctx);
    const uid = details.uid;
    if (details.prompt.name === 'login') return renderLogin(ctx, uid, client);
    if (details.prompt.name === 'consent') {
      const citizen = await citizens.findById(String(details.session?.accountId));
      const scopes = (details.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
      return render(ctx, 'interaction/consent', {
        ...formActions(uid, 'consent'),
        client,
        citizenName: citizen?.name ?? '',
        scopes: scopes.map((scope) => ({ scope })),
      });
    }
    throw new InputError('interaction_prompt_unknown');
  });

  router.post('/login', async (ctx) => {
    requireCsrf(ctx);
    const { details, client, clientId } = await interaction(ctx, 'login');
    const t = translator(ctx.state.lang);
    const { identifier, password } = parseForm(ctx, loginForm);
    const missing = [
      ...(identifier ? [] : [{ field: 'identifier', message: t('login.required_identifier') }]),
      ...(password ? [] : [{ field: 'password', message: t('login.required_password') }]),
    ];
    if (missing.length > 0) return renderLogin(ctx, details.uid, client, identifier, missing, 400);

    // Brute-force defence: the address, then the account (or the unknown identifier, which locks
    // alike, so that the answers do not tell which accounts exist). See identity/throttle.ts.
    const subject = await citizens.loginSubject(identifier);
    const verdict = await firstRefusal(throttle.ipAttempt('login', ctx.ip), () => throttle.accountAttempt(subject.key));
    if (!verdict.allowed) {
      await audit({ type: 'login.throttled', citizenId: subject.citizen?.id, clientId, ip: ctx.ip, details: { locked: verdict.locked } });
      metrics.login('throttled', unitOf(client));
      const message = verdict.locked
        ? t('login.locked', { minutes: Math.ceil(verdict.retryAfterSeconds / 60) })
        : t('login.wait', { seconds: verdict.retryAfterSeconds });
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      return renderLogin(ctx, details.uid, client, identifier, [{ field: 'identifier', message }], 429);
    }

    const citizen = await citizens.authenticate(identifier, password);
    if (!citizen) {
      await audit({ type: 'login.failed', citizenId: subject.citizen?.id, clientId, ip: ctx.ip });
      metrics.login('failed', unitOf(client));
      if ((await throttle.accountFailed(subject.key)) && subject.citizen) {
        await audit({ type: 'account.locked', citizenId: subject.citizen.id, ip: ctx.ip });
        await outbox.enqueue(accountLockedEmail(subject.citizen.email, subject.citizen.name, lockoutMinutes));
      }
      const errors = [{ field: 'identifier', message: t('login.invalid_credentials') }];
      return renderLogin(ctx, details.uid, client, identifier, errors, 400);
    }
    if (!citizen.email_verified) {
      // The password is right but the email unproven: send a fresh code and continue here after.
      await throttle.accountSucceeded(subject.key);
      const tokenId = (await registration.resendVerification(citizen.id))!;
      pendingVerification.set(ctx, { c: citizen.id, t: tokenId, e: maskEmail(citizen.email), r: `/interaction/${details.uid}` });
      return seeOther(ctx, '/verifikasi?dikirim=1');
    }
    if (await secondFactors.required(citizen.id)) {
      // The failures are forgotten only after the second factor too, so that guessing codes
      // between right passwords still reaches the lock.
      await throttle.accountPassedStep(subject.key);
      pendingSecondFactor.set(ctx, { u: details.uid, c: citizen.id });
      return renderSecondFactor(ctx, details.uid, client, citizen.id);
    }
    await throttle.accountSucceeded(subject.key);
    await finishLogin(ctx, details, client, clientId, citizen, {});
  });

  /**
   * The second step of a login for an account with a second factor: `check` tries what the
   * browser sent (a code, a recovery code or a passkey's answer). Failures count towards the same
   * lock as wrong passwords.
   */
  async function secondStep(ctx: Context, check: (citizen: Citizen) => Promise<SecondFactorMethod | undefined>) {
    requireCsrf(ctx);
    const { details, client, clientId } = await interaction(ctx, 'login');
    const pending = pendingSecondFactor.get(ctx);
    const citizen = pending?.u === details.uid ? await citizens.findById(pending.c) : undefined;
    if (!citizen) throw new InputError('second_factor_invalid');
    const t = translator(ctx.state.lang);
    const again = (message: string, status: number) =>
      renderSecondFactor(ctx, details.uid, client, citizen.id, [{ field: 'code', message }], status);
    const verdict = await firstRefusal(throttle.ipAttempt('code', ctx.ip), () => throttle.accountAttempt(citizen.id));
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      return again(verdict.locked ? t('login.locked', { minutes: Math.ceil(verdict.retryAfterSeconds / 60) }) : t('login.wait', { seconds: verdict.retryAfterSeconds }), 429);
    }
    const method = await check(citizen);
    if (!method) {
      await audit({ type: 'login.second_factor_failed', citizenId: citizen.id, clientId, ip: ctx.ip });
      metrics.login('second_factor_failed', unitOf(client));
      if (await throttle.accountFailed(citizen.id)) {
        await audit({ type: 'account.locked', citizenId: citizen.id, ip: ctx.ip });
        await outbox.enqueue(accountLockedEmail(citizen.email, citizen.name, lockoutMinutes));
      }
      return again(t('login.second_factor_invalid'), 400);
    }
    await throttle.accountSucceeded(citizen.id);
    pendingSecondFactor.clear(ctx);
    await finishLogin(ctx, details, client, clientId, citizen, { secondFactor: method });
  }

  // A code from the TOTP app, or a recovery code.
  router.post('/otp', (ctx) =>
    secondStep(ctx, async (citizen) => {
      const { code } = parseForm(ctx, secondFactorForm);
      const ok = /^\d{6}$/.test(code) ? await secondFactors.verifyTotp(citizen.id, code) : await secondFactors.useRecoveryCode(citizen, code, ctx.ip);
      return ok ? 'otp' : undefined;
    }),
  );

  // A passkey's answer to the challenge on the second-step page.
  router.post('/passkey', (ctx) =>
    secondStep(ctx, (citizen) => passkeys.authenticate(citizen.id, String(ctx.params.uid), parseForm(ctx, passkeyForm).credential)),
  );

  /** Completes the login at the acr the client asked for, or explains how the account can reach it. */
  async function finishLogin(
    ctx: Context,
    details: Details,
    client: object,
    clientId: string,
    citizen: Citizen,
    { secondFactor, checks = 0, result }: { secondFactor?: SecondFactorMethod; checks?: number; result?: string },
  ) {
    const acr = acrForLogin(details.params.acr_values, citizen, secondFactor !== undefined);
    const amr = secondFactor ? ['pwd', secondFactor] : ['pwd'];
    if (!acr) {
      await audit({ type: 'assurance.unmet', citizenId: citizen.id, clientId, ip: ctx.ip, details: { requested: details.params.acr_values } });
      const required = missingLevel(details.params.acr_values);
      // The page may offer the online population check: it needs to know whose account this is.
      const online = required === 'verified' && identityVerification !== undefined && checks < MAX_ONLINE_CHECKS;
      if (online) pendingCheck.set(ctx, { u: details.uid, c: citizen.id, n: checks, m: secondFactor ?? '' });
      return render(ctx, 'interaction/assurance', {
        client,
        required,
        abortAction: `/interaction/${details.uid}/unmet`,
        onlineAction: online ? `/interaction/${details.uid}/verifikasi-data` : undefined,
        result,
      }, 403);
    }
    pendingCheck.clear(ctx);
    await audit({ type: 'login.succeeded', citizenId: citizen.id, clientId, ip: ctx.ip, details: { acr, amr, userAgent: ctx.get('user-agent').slice(0, 200) } });
    metrics.login('succeeded', unitOf(client));
    const to = await provider.interactionResult(ctx.req, ctx.res, {
      login: { accountId: citizen.id, acr, amr, remember: true },
    });
    seeOther(ctx, to);
  }

  // The online population check offered on the assurance page, for the account that just signed in.
  router.post('/verifikasi-data', async (ctx) => {
    requireCsrf(ctx);
    const { details, client, clientId } = await interaction(ctx, 'login');
    const pending = pendingCheck.get(ctx);
    if (!identityVerification || pending?.u !== details.uid) throw new InputError('assurance_check_invalid');
    const { birth_place: birthPlace } = parseForm(ctx, birthPlaceForm);
    const checks = pending.n;
    // The count in the cookie shapes the page; the limit is kept on the server, per account
    // (a replayed cookie does not reset it) and per address.
    const key = `population:${pending.c}`;
    let result: string = 'birth_place_required';
    if (birthPlace) {
      const verdict = await firstRefusal(throttle.ipAttempt('code', ctx.ip), () => throttle.accountAttempt(key));
      if (!verdict.allowed) {
        result = 'too_many';
      } else {
        result = await identityVerification.verifyOnline(pending.c, birthPlace, ctx.ip);
        await (result === 'match' ? throttle.accountSucceeded(key) : throttle.accountFailed(key));
      }
    }
    const citizen = (await citizens.findById(pending.c))!;
    const secondFactor = isSecondFactorMethod(pending.m) ? pending.m : undefined;
    await finishLogin(ctx, details, client, clientId, citizen, { secondFactor, checks: birthPlace ? checks + 1 : checks, result });
  });

  router.post('/consent', async (ctx) => {
    requireCsrf(ctx);
    const { details, clientId } = await interaction(ctx, 'consent');
    const accountId = String(details.session?.accountId);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId });
    if (!grant) throw new InputError('grant_unknown');
    const missing = details.prompt.details;
    const scopes = (missing.missingOIDCScope as string[] | undefined) ?? [];
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = (missing.missingOIDCClaims as string[] | undefined) ?? [];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, resourceScopes] of Object.entries((missing.missingResourceScopes ?? {}) as Record<string, string[]>)) {
      grant.addResourceScope(indicator, resourceScopes.join(' '));
    }
    const grantId = await grant.save();
    await audit({ type: 'consent.granted', citizenId: accountId, clientId, ip: ctx.ip, details: { scopes } });
    const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    seeOther(ctx, to);
  });

  // "Back to the service" from the page that explains how to reach the requested assurance.
  router.post('/unmet', async (ctx) => {
    requireCsrf(ctx);
    await interaction(ctx, 'login');
    const to = await provider.interactionResult(ctx.req, ctx.res, {
      error: 'unmet_authentication_requirements',
      error_description: 'the account does not reach the requested acr_values',
    });
    seeOther(ctx, to);
  });

  router.post('/abort', async (ctx) => {
    requireCsrf(ctx);
    const { details, clientId } = await interaction(ctx);
    if (details.prompt.name === 'consent') {
      await audit({ type: 'consent.denied', citizenId: String(details.session?.accountId), clientId, ip: ctx.ip });
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    });
    seeOther(ctx, to);
  });

  return router;
}
