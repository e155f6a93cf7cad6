import type { Context } from 'koa';
import { z } from 'zod';
import type { Audit } from '../../audit/audit.js';
import { InputError } from '../../errors.js';
import { levelProven, type UpstreamAccounts, type UpstreamDecision } from '../../federation/upstream-accounts.js';
import { UpstreamError, type UpstreamClient, type UpstreamIdentity } from '../../federation/upstream-client.js';
import type { Upstream, Upstreams } from '../../federation/upstreams.js';
import { EMAIL, type Citizen } from '../../identity/citizens.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import { maskNik } from '../../identity/nik.js';
import { normalizePhone } from '../../identity/phone.js';
import type { Registration } from '../../identity/registration.js';
import { TTL } from '../../oidc/provider.js';
import { translator } from '../../i18n.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import { refusalMessage } from '../throttling.js';
import { tripFailed, upstreamTrip } from '../upstream-trip.js';
import type { Interaction } from './context.js';
import type { FinishLogin, UpstreamLogin } from './finish-login.js';
import type { InteractionStep } from './step.js';

const newAccountForm = z.object({ email: field(254), phone: field(40) });
const passwordForm = z.object({ password: field(1000) });

/** An identity an upstream vouched for in this browser and interaction, with what to do with it. */
interface Vouched {
  state: string;
  upstream: Upstream;
  identity: UpstreamIdentity;
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
 *
 * The login's amr is 'fed' and its acr what the upstream proved (finish-login.ts).
 */
export function upstreamStep({ upstreams, upstreamClient, upstreamAccounts, loginAttempts, registration, audit, finishLogin, foreignPrefixes }: {
  upstreams: Upstreams;
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
    if (!trip || !found || !upstream) return undefined;
    return { state: trip.state, upstream, identity: found.identity, decision: await upstreamAccounts.decide(upstream.slug, found.identity) };
  }

  /** The login, at what the upstream proved; our session is remembered with the upstream's, for its back-channel logout. */
  function signIn(ctx: Context, interaction: Interaction, citizen: Citizen, { upstream, identity }: Vouched) {
    upstreamTrip.clear(ctx);
    const login: UpstreamLogin = {
      level: levelProven(upstream, identity.acr),
      signingIn: (loginTs) => upstreamAccounts.recordSession(upstream.slug, identity, citizen.id, loginTs, TTL.Session),
    };
    return finishLogin(ctx, interaction, citizen, ['fed'], { upstream: login });
  }

  function showNewAccount(ctx: Context, interaction: Interaction, { upstream, identity, decision }: Vouched, values: { email: string; phone: string }, errors: object[] = [], status = 200) {
    const details = decision as Extract<UpstreamDecision, { kind: 'new' }>;
    render(ctx, 'interaction/upstream-new', {
      action: interaction.action('hubungkan/akun-baru'),
      abortAction: interaction.action('abort'),
      client: interaction.client,
      label: upstream.label,
      vouches: levelProven(upstream, identity.acr) !== 'basic',
      details: { name: details.name, birthdate: details.birthdate, nik: maskNik(details.nik) },
      values,
      errors,
    }, status);
  }

  function showProve(ctx: Context, interaction: Interaction, { upstream }: Vouched, errors: object[] = [], status = 200) {
    render(ctx, 'interaction/upstream-prove', {
      action: interaction.action('hubungkan/sandi'),
      abortAction: interaction.action('abort'),
      loginHref: `/interaction/${interaction.uid}`,
      client: interaction.client,
      label: upstream.label,
      errors,
    }, status);
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
        const upstream = await upstreams.find(String(ctx.params.slug));
        const credentials = upstream?.enabled ? await upstreams.credentials(upstream.slug) : undefined;
        if (!upstream || !credentials) return tripFailed(ctx, audit, 'unknown_upstream', { slug: String(ctx.params.slug), interactionUid: interaction.uid, stage: 'start' });
        try {
          const { url, checks } = await upstreamClient.start(upstream, credentials);
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
              return await signIn(ctx, interaction, await upstreamAccounts.signIn(found.state, found.upstream.slug, found.identity, decision.citizen, { level: levelProven(found.upstream, found.identity.acr), ip: ctx.ip }), found);
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
        const phone = form.phone.trim() ? normalizePhone(form.phone, foreignPrefixes) ?? '' : null;
        const problems = [
          ...(email !== null && (!EMAIL.test(email) || email.length > 254) ? [new InputError('email_invalid', 'email')] : []),
          ...(phone === '' ? [new InputError('phone_invalid', 'phone')] : []),
        ];
        if (problems.length === 0) {
          try {
            const citizen = await upstreamAccounts.createAccount(found.state, found.upstream.slug, found.identity, found.decision, {
              email, phone, level: levelProven(found.upstream, found.identity.acr), ip: ctx.ip,
            });
            // The email is ours to prove: the usual verification link and code go to it.
            if (email) await registration.resendVerification(citizen.id);
            return await signIn(ctx, interaction, citizen, found);
          } catch (error) {
            if (usedAlready(error)) return seeOther(ctx, `/interaction/${interaction.uid}`);
            if (!(error instanceof InputError) || error.field !== 'email') throw error;
            problems.push(error);
          }
        }
        showNewAccount(ctx, interaction, found, form, fieldErrors(ctx, problems), 400);
      });

      router.post('/hubungkan/sandi', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const found = await vouched(ctx, interaction);
        if (!found || found.decision.kind !== 'prove') return seeOther(ctx, interaction.action('hubungkan'));
        const t = translator(ctx.state.lang);
        const { password } = parseForm(ctx, passwordForm);
        if (!password) return showProve(ctx, interaction, found, [{ field: 'password', message: t('login.required_password') }], 400);
        const { citizen } = found.decision;
        const attempt = await loginAttempts.accountPassword(citizen, password, interaction.origin);
        if (attempt.outcome === 'refused') {
          ctx.set('Retry-After', String(attempt.refusal.retryAfterSeconds));
          return showProve(ctx, interaction, found, [{ field: 'password', message: refusalMessage(t, attempt.refusal) }], 429);
        }
        if (attempt.outcome === 'failed') return showProve(ctx, interaction, found, [{ field: 'password', message: t('upstream.prove.invalid') }], 400);
        try {
          const level = levelProven(found.upstream, found.identity.acr);
          await upstreamAccounts.link(found.state, found.upstream.slug, found.identity, citizen, { level, proof: 'password', ip: ctx.ip });
        } catch (error) {
          if (usedAlready(error)) return seeOther(ctx, `/interaction/${interaction.uid}`);
          throw error;
        }
        const linked = await upstreamAccounts.decide(found.upstream.slug, found.identity);
        if (linked.kind !== 'linked') throw new Error('a link just made is not found');
        return signIn(ctx, interaction, linked.citizen, found);
      });
    },
  };
}
