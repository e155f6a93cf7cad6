import type { Context } from 'koa';
import { errors, type ClientMetadata } from 'oidc-provider';
import type Provider from 'oidc-provider';
import {
  checkRegistration,
  metadataOf,
  parseJwks,
  providerMetadata,
  requestedScope,
  type ClientRegistration,
  type RegistrationForm,
} from '../../clients/registration.js';
import { InputError } from '../../errors.js';
import { inputErrorMessage, translator } from '../../i18n.js';

/** The code of a registration that oidc-provider's own client metadata validation refused. */
const METADATA_REJECTED = 'client_metadata_rejected';

/** The form fields in page order: the error summary lists problems in the order of the form. */
const FIELD_ORDER = [
  'name', 'unit', 'type', 'redirect_uris', 'post_logout_redirect_uris', 'backchannel_logout_uri', 'frontchannel_logout_uri', 'initiate_login_uri', 'scopes',
  'reason_nik', 'reason_address', 'auth_method', 'jwks', 'jwks_uri', 'logo_uri', 'policy_uri', 'contact',
];

/**
 * Whether oidc-provider accepts the client metadata (it throws its own errors, in English, when
 * not). A confidential client is checked with a stand-in secret: the real one is made on approval.
 */
async function providerProblem(provider: Provider, metadata: Record<string, unknown>): Promise<InputError | undefined> {
  const secret = String(metadata.token_endpoint_auth_method).startsWith('client_secret') ? { client_secret: 'checked-on-approval' } : {};
  try {
    await provider.Client.validate({ client_id: 'checked-on-submission', ...secret, ...providerMetadata(metadata) } as ClientMetadata);
    return undefined;
  } catch (error) {
    if (!(error instanceof errors.OIDCProviderError)) throw error;
    return new InputError(METADATA_REJECTED, undefined, error.error_description ?? error.message);
  }
}

/**
 * A posted registration checked as the developer sees it (registration.ts, field by field) and
 * then as oidc-provider will see it on approval (its client metadata validation).
 */
export async function checkSubmission(
  provider: Provider,
  form: RegistrationForm,
): Promise<{ ok: true; registration: ClientRegistration } | { ok: false; problems: InputError[] }> {
  const checked = checkRegistration(form);
  if (!checked.ok) return checked;
  const problem = await providerProblem(provider, metadataOf(checked.registration, requestedScope(checked.registration)));
  return problem ? { ok: false, problems: [problem] } : checked;
}

/**
 * A JWKS uploaded for a private_key_jwt client: public keys only (parseJwks) that oidc-provider
 * accepts too. Throws InputError('jwks_invalid', 'jwks').
 */
export async function checkUploadedJwks(provider: Provider, text: string): Promise<NonNullable<ClientRegistration['jwks']>> {
  const jwks = parseJwks(text);
  const metadata = { token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], response_types: [], jwks };
  if (!jwks || (await providerProblem(provider, metadata))) throw new InputError('jwks_invalid', 'jwks');
  return jwks;
}

export type PageErrors = Array<{ field?: string; message: string }>;

/**
 * Problems as the error summary and the inline messages show them, in form order: the message
 * of each code in the page's language; the provider's refusal with its own (English) words.
 */
export function pageErrors(ctx: Context, problems: InputError[]): PageErrors {
  const order = (p: InputError) => (p.field ? FIELD_ORDER.indexOf(p.field) : -1);
  return [...problems].sort((a, b) => order(a) - order(b)).map((problem) => ({
    ...(problem.field && { field: problem.field }),
    message: problem.code === METADATA_REJECTED
      ? translator(ctx.state.lang)('developer.form.metadata_rejected', { detail: problem.message })
      : inputErrorMessage(problem, ctx.state.lang),
  }));
}
