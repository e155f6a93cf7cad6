import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { LOGO_MAX_BYTES } from '../../clients/units.js';
import { AUTH_METHODS, DEFAULT_UPSTREAM, UpstreamSettingsError, type Upstream, type UpstreamSettings } from '../../federation/upstreams.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import { acceptUpload } from '../upload.js';
import type { AdminModule } from './router.js';

/**
 * An upstream's form. The fields are named as the settings' problems name them, so that the
 * error summary links to them; each takes a little more than the settings allow, so that the
 * settings' check speaks (with the field's own message) rather than the form's.
 */
const upstreamForm = z.object({
  slug: field(100),
  label: field(100),
  issuer: field(1000),
  clientId: field(400),
  authMethod: field(40),
  clientSecret: field(1000),
  scopes: field(600),
  nikClaim: field(200),
  claim_name: field(200),
  claim_birthdate: field(200),
  claim_email: field(200),
  claim_phone: field(200),
  verifiedAcr: field(2000),
  mfaAcr: field(2000),
});
type UpstreamForm = z.infer<typeof upstreamForm>;

const statusForm = z.object({ enabled: z.enum(['ya', 'tidak']) });

/** A new upstream's form: INApas's defaults. */
const NEW_UPSTREAM: Partial<UpstreamForm> = {
  authMethod: 'private_key_jwt',
  scopes: DEFAULT_UPSTREAM.scopes,
  nikClaim: DEFAULT_UPSTREAM.nikClaim,
  claim_name: DEFAULT_UPSTREAM.claimMap.name,
  claim_birthdate: DEFAULT_UPSTREAM.claimMap.birthdate,
  claim_email: DEFAULT_UPSTREAM.claimMap.email,
  claim_phone: DEFAULT_UPSTREAM.claimMap.phone,
};

const settingsOf = (form: UpstreamForm, slug: string, enabled: boolean): UpstreamSettings => ({
  slug,
  label: form.label,
  issuer: form.issuer,
  clientId: form.clientId,
  // Anything but a method is refused by the settings' check, with its message.
  authMethod: form.authMethod as UpstreamSettings['authMethod'],
  clientSecret: form.clientSecret,
  // Scopes as typed: any spaces between them.
  scopes: form.scopes.split(/\s+/).filter(Boolean).join(' '),
  nikClaim: form.nikClaim,
  claimMap: { name: form.claim_name, birthdate: form.claim_birthdate, email: form.claim_email, phone: form.claim_phone },
  verifiedAcr: form.verifiedAcr,
  mfaAcr: form.mfaAcr,
  enabled,
});

/** The form filled from a stored upstream: never its secret. */
const formOf = (u: Upstream): UpstreamForm => ({
  slug: u.slug,
  label: u.label,
  issuer: u.issuer,
  clientId: u.clientId,
  authMethod: u.authMethod,
  clientSecret: '',
  scopes: u.scopes,
  nikClaim: u.nikClaim,
  claim_name: u.claimMap.name,
  claim_birthdate: u.claimMap.birthdate,
  claim_email: u.claimMap.email,
  claim_phone: u.claimMap.phone,
  verifiedAcr: u.verifiedAcr.join(' '),
  mfaAcr: u.mfaAcr.join(' '),
});

/**
 * Signing in with a national identity provider (/admin/masuk-nasional): the upstreams (INApas,
 * IKD) with their settings, added and changed (with a recent login: they decide who can sign
 * citizens in), enabled and disabled, each with its button's logo and what the upstream needs to
 * register Kediri ID as its client. One set by UPSTREAM_* is shown, not changed. The store audits
 * every change; a client secret is never shown again once saved.
 */
export const upstreamRoutes: AdminModule = (router, { upstreams, config }, recentLogin) => {
  async function showList(ctx: Context, values: Partial<UpstreamForm> = NEW_UPSTREAM, errors: object[] = [], status = 200) {
    render(ctx, 'admin/upstreams', { upstreams: await upstreams.list(), values, errors, methods: AUTH_METHODS }, status);
  }

  function showUpstream(ctx: Context, upstream: Upstream, values: UpstreamForm = formOf(upstream), errors: object[] = [], status = 200) {
    const base = `${config.issuer}/masuk-dengan/${upstream.slug}`;
    const notice = ctx.query.dibuat === '1' ? 'created' : ctx.query.disimpan === '1' ? 'saved' : undefined;
    render(ctx, 'admin/upstream', {
      upstream,
      values,
      errors,
      notice,
      methods: AUTH_METHODS,
      uris: { redirect: `${base}/kembali`, logout: `${base}/keluar`, jwks: `${base}/jwks.json` },
      publicJwk: JSON.stringify(upstream.publicJwk, null, 2),
    }, status);
  }

  async function named(ctx: Context): Promise<Upstream> {
    const upstream = await upstreams.find(String(ctx.params.upstream));
    if (!upstream) throw new InputError('upstream_unknown');
    return upstream;
  }

  router.get('/masuk-nasional', (ctx) => showList(ctx));

  // A new upstream starts disabled: the upstream registers Kediri ID first (the addresses and key
  // its page shows), then an administrator enables it.
  router.post('/masuk-nasional', recentLogin, async (ctx) => {
    const form = parseForm(ctx, upstreamForm);
    let slug: string;
    try {
      slug = await upstreams.create(settingsOf(form, form.slug, false), ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof UpstreamSettingsError)) throw error;
      return showList(ctx, { ...form, clientSecret: '' }, fieldErrors(ctx, error.problems), 400);
    }
    seeOther(ctx, `/admin/masuk-nasional/${slug}?dibuat=1`);
  });

  router.get('/masuk-nasional/:upstream', async (ctx) => showUpstream(ctx, await named(ctx)));

  router.post('/masuk-nasional/:upstream', recentLogin, async (ctx) => {
    const upstream = await named(ctx);
    const form = parseForm(ctx, upstreamForm);
    try {
      await upstreams.update(settingsOf(form, upstream.slug, upstream.enabled), ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof UpstreamSettingsError)) throw error;
      return showUpstream(ctx, upstream, { ...form, slug: upstream.slug, clientSecret: '' }, fieldErrors(ctx, error.problems), 400);
    }
    seeOther(ctx, `/admin/masuk-nasional/${upstream.slug}?disimpan=1`);
  });

  router.post('/masuk-nasional/:upstream/status', recentLogin, async (ctx) => {
    const upstream = await named(ctx);
    const { enabled } = parseForm(ctx, statusForm);
    await upstreams.setEnabled(upstream.slug, enabled === 'ya', ctx.state.accountId, ctx.ip);
    seeOther(ctx, `/admin/masuk-nasional/${upstream.slug}?disimpan=1`);
  });

  // The button's logo: also for an upstream set by the environment (UPSTREAM_* has no logo).
  router.post('/masuk-nasional/:upstream/logo', acceptUpload('logo', LOGO_MAX_BYTES), async (ctx) => {
    const upstream = await named(ctx);
    const logo: Buffer | undefined = ctx.state.upload;
    try {
      if (!logo) throw new InputError('unit_logo_invalid', 'logo');
      await upstreams.setLogo(upstream.slug, logo, ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || error.field !== 'logo') throw error;
      return showUpstream(ctx, upstream, undefined, fieldErrors(ctx, [error]), 400);
    }
    seeOther(ctx, `/admin/masuk-nasional/${upstream.slug}?disimpan=1`);
  });
};
