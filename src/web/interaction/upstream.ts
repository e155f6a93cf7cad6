import type { Context } from 'koa';
import { z } from 'zod';
import type { Audit } from '../../audit/audit.js';
import { InputError } from '../../errors.js';
import type { AssuranceLevel } from '../../identity/assurance.js';
import { levelProven, type UpstreamAccounts, type UpstreamDecision } from '../../federation/upstream-accounts.js';
import { UpstreamError, type UpstreamClient, type UpstreamIdentity } from '../../federation/upstream-client.js';
import type { Upstream, Upstreams } from '../../federation/upstreams.js';
import { EMAIL, type Citizen, type CitizenStore } from '../../identity/citizens.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import { maskNik } from '../../identity/nik.js';
import { normalizePhone } from '../../identity/phone.js';
import type { Registration } from '../../identity/registration.js';
import type { PhoneCodes } from '../../identity/phone-codes.js';
import type { Channel } from '../../messaging/outbox.js';
import { chosenChannel, codeFormData, codeNotice, codeNoticeQuery } from '../phone-code-forms.js';
import { maskEmail } from '../../email/sender.js';
import { TOKEN_TTL_MINUTES } from '../../identity/account-tokens.js';
import { translator } from '../../i18n.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { render } from '../render.js';
import { refusalMessage, withinIpLimit } from '../throttling.js';
import type { Throttle } from '../../identity/throttle.js';
import { tripFailed, upstreamTrip } from '../upstream-trip.js';
import type { Interaction } from './context.js';
import type { FinishLogin, UpstreamLogin } from './finish-login.js';
import type { SecondFactorPage } from './second-factor.js';
import type { SecondFactors } from '../../identity/second-factors.js';
import type { InteractionStep } from './step.js';

const newAccountForm = z.object({ email: typed, phone: typed });
const passwordForm = z.object({ password: typed });
const sendCodeForm = z.object({ to: field(10), channel: field(10) });
const codeForm = z.object({ code: typed });

/** An identity an upstream vouched for in this browser and interaction, with what to do with it. */
interface Vouched {
  state: string;
  /** The code sent to the phone or email of the account to link, when one was asked for. */
  codeId: string | undefined;
  codeBy: 'phone' | 'email' | undefined;
  upstream: Upstream;
  identity: UpstreamIdentity;
  /** What the upstream proved, by its acr. */
  level: AssuranceLevel;
  decision: UpstreamDecision;
}

/**
 * Signing in with a national identity provider (INApas, IKD): one button per enabled upstream on
 * the login page. The upstream sends the browser back to /masuk-dengan/<slug>/kembali
 * (upstream-routes.ts), which checks its answer and continues here:
 *
 *   GET  /interaction/:uid/masuk-dengan/:slug       off to the upstream
 *   GET  /interaction/:uid/hubungkan                back: signed in, or what comes first
 *   POST /interaction/:uid/hubungkan/akun-baru      no account holds the NIK: make one
 *   POST /interaction/:uid/hubungkan/sandi          an account holds it: its password links it
 *   POST /interaction/:uid/hubungkan/kirim-kode     ... or a code sent to its verified phone or email
 *   POST /interaction/:uid/hubungkan/kode           ... typed here
 *
 * The login's amr is 'fed' and its acr what the upstream proved (finish-login.ts).
 */
export function upstreamStep({ citizens, upstreams, upstreamClient, upstreamAccounts, loginAttempts, registration, phoneCodes, channels, throttle, audit, secondFactors, secondFactorPage, finishLogin, foreignPrefixes }: {
  citizens: CitizenStore;
  upstreams: Upstreams;
  secondFactors: SecondFactors;
  secondFactorPage: SecondFactorPage;
  throttle: Throttle;
  phoneCodes: PhoneCodes;
  /** The ways a code reaches a phone here, the first the default. */
  channels: readonly Channel[];
  upstreamClient: UpstreamClient;
  upstreamAccounts: UpstreamAccounts;
  loginAttempts: LoginAttempts;
  registration: Registration;
  audit: Audit;
  finishLogin: FinishLogin;
  foreignPrefixes: readonly string[];
}): InteractionStep {
  /** The identity this browser brought back for this interaction; undefined when there is none (expired, used, another browser's). */
  async function vouched(ctx: Context, interaction: Interaction): Promise<Vouched | undefined> {
    const trip = upstreamTrip.get(ctx);
    const found = trip && (await upstreamAccounts.identityFor(trip.state, trip.browser, interaction.uid));
    const upstream = found && (await upstreams.find(found.slug));
    // An upstream switched off stops the sign-ins under way too.
    if (!trip || !found || !upstream?.enabled) return undefined;
    return { state: trip.state, codeId: trip.codeId, codeBy: trip.codeBy, upstream, identity: found.identity,
      level: levelProven(upstream, found.identity.acr), decision: await upstreamAccounts.decide(upstream.slug, found.identity) };
  }

  /**
   * The login, at what the upstream proved; our session is remembered with the upstream's, for its
   * back-channel logout. An account with its own second factor is asked for it first, unless the
   * upstream proved a second factor itself (verified-mfa).
   */
  async function signIn(ctx: Context, interaction: Interaction, citizen: Citizen, { upstream, identity, level }: Vouched) {
    upstreamTrip.clear(ctx);
    const login: UpstreamLogin = {
      slug: upstream.slug,
      subject: identity.subject,
      ...(identity.sid && { sid: identity.sid }),
      level,
      reauthenticated: identity.reauthenticated,
    };
    if (login.level !== 'verified-mfa' && (await secondFactors.required(citizen.id))) return secondFactorPage.start(ctx, interaction, citizen, 'fed', login);
    return finishLogin(ctx, interaction, citizen, ['fed'], { upstream: login });
  }

  function showNewAccount(ctx: Context, interaction: Interaction, { upstream, level, decision }: Vouched, values: { email: string; phone: string }, errors: object[] = [], status = 200) {
    const details = decision as Extract<UpstreamDecision, { kind: 'new' }>;
    render(ctx, 'interaction/upstream-new', {
      action: interaction.action('hubungkan/akun-baru'),
      abortAction: interaction.action('abort'),
      client: interaction.client,
      label: upstream.label,
      vouches: level !== 'basic',
      details: { name: details.name, birthdate: details.birthdate, nik: maskNik(details.nik) },
      values,
      errors,
    }, status);
  }

  /** The account's verified phone, when a code can prove the citizen holds it. */
  const phoneOf = (citizen: Citizen) => (citizen.phone_verified && citizen.phone && channels.length > 0 ? citizen.phone : undefined);

  /** The proof that the account is the citizen's: its password, or a code sent to its verified phone or email. */
  function showProve(ctx: Context, interaction: Interaction, found: Vouched, { errors = [] as object[], status = 200, waitSeconds = 0 } = {}) {
    const { citizen, hasPassword } = found.decision as Extract<UpstreamDecision, { kind: 'prove' }>;
    const phone = phoneOf(citizen);
    const email = citizen.email_verified && citizen.email ? maskEmail(citizen.email) : undefined;
    render(ctx, 'interaction/upstream-prove', {
      action: hasPassword ? interaction.action('hubungkan/sandi') : undefined,
      sendCodeAction: phone || email ? interaction.action('hubungkan/kirim-kode') : undefined,
      codeAction: found.codeId !== undefined ? interaction.action('hubungkan/kode') : undefined,
      codeBy: found.codeBy,
      email,
      emailCodeMinutes: TOKEN_TTL_MINUTES.link_upstream,
      ...(phone && codeFormData(ctx, { phone, channel: channels[0]! }, channels, waitSeconds)),
      ...(!phone && codeNotice(ctx, waitSeconds)),
      abortAction: interaction.action('abort'),
      client: interaction.client,
      label: found.upstream.label,
      errors,
    }, status);
  }

  /** Links the account the citizen proved they hold, and signs in. */
  async function linkAndSignIn(ctx: Context, interaction: Interaction, found: Vouched, citizen: Citizen, proof: 'password' | 'phone_code' | 'email_code') {
    let linked: Citizen;
    try {
      linked = await upstreamAccounts.link(found.state, found.upstream.slug, found.identity, citizen, { level: found.level, proof, ip: ctx.ip });
    } catch (error) {
      if (usedAlready(error)) return seeOther(ctx, `/interaction/${interaction.uid}`);
      if (error instanceof InputError && error.code === 'upstream_details_differ') return showRefused(ctx, interaction, found, 'details_differ');
      throw error;
    }
    return signIn(ctx, interaction, linked, found);
  }

  /** Neither signed in nor linked: why, and the other ways (the counter, for details that differ). Audited. */
  async function showRefused(ctx: Context, interaction: Interaction, { upstream }: Vouched, reason: string) {
    upstreamTrip.clear(ctx);
    await audit({ type: 'upstream.link_refused', clientId: interaction.clientId, ip: ctx.ip, details: { upstream: upstream.slug, reason } });
    render(ctx, 'interaction/upstream-refused', {
      reason,
      label: upstream.label,
      loginHref: `/interaction/${interaction.uid}`,
    }, reason === 'counter' ? 409 : 403);
  }

  /** The request is used already (a second tab, a double submit): back to the login page. */
  const usedAlready = (error: unknown) => error instanceof InputError && (error.code === 'upstream_request_used' || error.code === 'upstream_link_taken');

  return {
    alternatives: async (interaction) =>
      (await upstreams.enabled()).map((upstream) => ({
        href: interaction.action(`masuk-dengan/${upstream.slug}`),
        label: 'login.upstream.button',
        labelArgs: { name: upstream.label },
        button: { logo: upstream.hasLogo ? `/masuk-dengan/${upstream.slug}/logo` : undefined },
      })),

    actions(router, read) {
      router.get('/masuk-dengan/:slug', async (ctx) => {
        const interaction = await read(ctx, 'login');
        if (!(await withinIpLimit(ctx, throttle, 'login'))) return;
        const upstream = await upstreams.find(String(ctx.params.slug));
        const credentials = upstream?.enabled ? await upstreams.credentials(upstream.slug) : undefined;
        // Only a name an upstream could have is written into the audit entry.
        if (!upstream || !credentials) return tripFailed(ctx, audit, 'unknown_upstream', { slug: upstream?.slug ?? 'unknown', interactionUid: interaction.uid, stage: 'start' });
        try {
          // A fresh login asked of us (prompt=login, max_age: the portal's recent login) is asked of the upstream too.
          const { prompt, max_age: maxAge } = interaction.details.params;
          const reauthenticate = String(prompt ?? '').split(' ').includes('login') || maxAge !== undefined;
          const { url, checks } = await upstreamClient.start(upstream, credentials, { reauthenticate });
          const browser = await upstreamAccounts.begin(upstream.slug, interaction.uid, checks);
          upstreamTrip.set(ctx, { state: checks.state, browser });
          await audit({ type: 'upstream.started', clientId: interaction.clientId, ip: ctx.ip, details: { upstream: upstream.slug } });
          seeOther(ctx, url);
        } catch (error) {
          if (!(error instanceof UpstreamError)) throw error;
          return tripFailed(ctx, audit, error.reason, { slug: upstream.slug, label: upstream.label, interactionUid: interaction.uid, stage: 'start' });
        }
      });

      router.get('/hubungkan', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const found = await vouched(ctx, interaction);
        if (!found) return seeOther(ctx, `/interaction/${interaction.uid}`);
        const { decision } = found;
        switch (decision.kind) {
          case 'linked':
            try {
              return await signIn(ctx, interaction, await upstreamAccounts.signIn(found.state, found.upstream.slug, found.identity, decision.citizen, { level: found.level, ip: ctx.ip }), found);
            } catch (error) {
              if (usedAlready(error)) return seeOther(ctx, `/interaction/${interaction.uid}`);
              throw error;
            }
          case 'new':
            return showNewAccount(ctx, interaction, found, { email: found.identity.email ?? '', phone: found.identity.phone ?? '' });
          case 'prove':
            return showProve(ctx, interaction, found);
          case 'counter':
            return showRefused(ctx, interaction, found, 'counter');
          case 'refused':
            return showRefused(ctx, interaction, found, decision.reason);
        }
      });

      router.post('/hubungkan/akun-baru', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const found = await vouched(ctx, interaction);
        if (!found || found.decision.kind !== 'new') return seeOther(ctx, interaction.action('hubungkan'));
        const form = parseForm(ctx, newAccountForm);
        const email = form.email.trim().toLowerCase() || null;
        // null: no number given; undefined: one that is not a mobile number.
        const phone = form.phone.trim() ? normalizePhone(form.phone, foreignPrefixes) : null;
        const problems = [
          ...(email !== null && (email.length > 254 || !EMAIL.test(email)) ? [new InputError('email_invalid', 'email')] : []),
          ...(phone === undefined ? [new InputError('phone_invalid', 'phone')] : []),
        ];
        if (problems.length === 0) {
          try {
            const citizen = await upstreamAccounts.createAccount(found.state, found.upstream.slug, found.identity, found.decision, {
              email, phone: phone ?? null, level: found.level, ip: ctx.ip,
            });
            // The email is ours to prove: the usual verification link and code go to it.
            if (citizen.email) await registration.resendVerification(citizen.id);
            return await signIn(ctx, interaction, citizen, found);
          } catch (error) {
            // A second tab, or an account made for the NIK meanwhile: the login page again.
            if (usedAlready(error) || (error instanceof InputError && error.code === 'nik_taken')) return seeOther(ctx, `/interaction/${interaction.uid}`);
            throw error;
          }
        }
        showNewAccount(ctx, interaction, found, form, fieldErrors(ctx, problems), 400);
      });

      router.post('/hubungkan/sandi', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const found = await vouched(ctx, interaction);
        if (!found || found.decision.kind !== 'prove' || !found.decision.hasPassword) return seeOther(ctx, interaction.action('hubungkan'));
        const t = translator(ctx.state.lang);
        const { password } = parseForm(ctx, passwordForm);
        if (!password) return showProve(ctx, interaction, found, { errors: [{ field: 'password', message: t('login.required_password') }], status: 400 });
        const { citizen } = found.decision;
        const attempt = await loginAttempts.accountProof(citizen, 'password', () => citizens.passwordMatches(citizen.id, password), interaction.origin);
        if (attempt.outcome === 'refused') {
          ctx.set('Retry-After', String(attempt.refusal.retryAfterSeconds));
          return showProve(ctx, interaction, found, { errors: [{ field: 'password', message: refusalMessage(t, attempt.refusal) }], status: 429 });
        }
        if (attempt.outcome === 'failed') return showProve(ctx, interaction, found, { errors: [{ field: 'password', message: t('upstream.prove.invalid') }], status: 400 });
        return linkAndSignIn(ctx, interaction, found, citizen, 'password');
      });

      // A code to the account's verified phone or email instead of its password (one forgotten, or never set).
      router.post('/hubungkan/kirim-kode', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const found = await vouched(ctx, interaction);
        if (!found || found.decision.kind !== 'prove') return seeOther(ctx, interaction.action('hubungkan'));
        const { citizen } = found.decision;
        const form = parseForm(ctx, sendCodeForm);
        const phone = phoneOf(citizen);
        if (form.to === 'email' && citizen.email_verified) {
          if (!(await withinIpLimit(ctx, throttle, 'message'))) return;
          const codeId = await upstreamAccounts.sendEmailCode(citizen);
          upstreamTrip.set(ctx, { ...upstreamTrip.get(ctx)!, codeId, codeBy: 'email' });
          return seeOther(ctx, `${interaction.action('hubungkan')}?dikirim=1`);
        }
        if (form.to !== 'phone' || !phone) return seeOther(ctx, interaction.action('hubungkan'));
        const channel = chosenChannel(form.channel, channels);
        const sent = await phoneCodes.send({ phone, citizenId: citizen.id, purpose: 'link_upstream', channel, lang: ctx.state.lang, ip: ctx.ip });
        if (sent.outcome === 'refused') {
          ctx.set('Retry-After', String(sent.retryAfterSeconds));
          const message = translator(ctx.state.lang)('login.phone_code.refused', { minutes: Math.ceil(sent.retryAfterSeconds / 60) });
          return showProve(ctx, interaction, found, { errors: [{ field: 'code', message }], status: 429 });
        }
        const codeId = sent.codeId ?? (found.codeBy === 'phone' ? found.codeId : undefined) ?? '';
        upstreamTrip.set(ctx, { ...upstreamTrip.get(ctx)!, codeId, codeBy: 'phone' });
        seeOther(ctx, `${interaction.action('hubungkan')}?${codeNoticeQuery(sent)}`);
      });

      router.post('/hubungkan/kode', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const found = await vouched(ctx, interaction);
        if (!found || found.decision.kind !== 'prove' || found.codeId === undefined) return seeOther(ctx, interaction.action('hubungkan'));
        const { citizen } = found.decision;
        const codeId = found.codeId;
        const t = translator(ctx.state.lang);
        const { code } = parseForm(ctx, codeForm);
        const phone = phoneOf(citizen);
        const attempt = found.codeBy === 'email'
          ? await loginAttempts.accountProof(citizen, 'email_code', () => upstreamAccounts.emailCodeProves(citizen.id, codeId, code), interaction.origin)
          : phone ? await loginAttempts.phoneCode('link_upstream', { phone, codeId, code }, interaction.origin) : undefined;
        if (!attempt) return seeOther(ctx, interaction.action('hubungkan'));
        if (attempt.outcome === 'refused') {
          ctx.set('Retry-After', String(attempt.refusal.retryAfterSeconds));
          return showProve(ctx, interaction, found, { errors: [{ field: 'code', message: refusalMessage(t, attempt.refusal) }], status: 429 });
        }
        // (Only a sign-in is told that the account is disabled.)
        if (attempt.outcome === 'failed' || attempt.outcome === 'disabled') {
          return showProve(ctx, interaction, found, { errors: [{ field: 'code', message: t('login.phone_code.invalid') }], status: 400 });
        }
        return linkAndSignIn(ctx, interaction, found, citizen, found.codeBy === 'email' ? 'email_code' : 'phone_code');
      });
    },
  };
}
