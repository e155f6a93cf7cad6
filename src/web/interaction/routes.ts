import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Audit } from '../../audit/audit.js';
import type { ClientStore } from '../../clients/clients.js';
import type { ResourceServers } from '../../clients/resource-servers.js';
import type { CitizenStore } from '../../identity/citizens.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import type { Passkeys } from '../../identity/passkeys.js';
import type { PhoneCodes } from '../../identity/phone-codes.js';
import type { Registration } from '../../identity/registration.js';
import type { SecondFactors } from '../../identity/second-factors.js';
import type { Channel } from '../../messaging/outbox.js';
import { InputError } from '../../errors.js';
import { abortStep } from './abort.js';
import { assurancePage, assuranceStep } from './assurance.js';
import { consentStep } from './consent.js';
import { clientOnPage, interactionReader, type Interaction } from './context.js';
import { finishedSignInPage } from './finished.js';
import { loginFinisher } from './finish-login.js';
import { loginStep } from './login.js';
import { phoneCodeStep } from './phone-code.js';
import { secondFactorPage, secondFactorStep } from './second-factor.js';
import type { InteractionStep } from './step.js';
import { upstreamStep } from './upstream.js';
import type { Upstreams } from '../../federation/upstreams.js';
import type { Throttle } from '../../identity/throttle.js';
import type { UpstreamAccounts } from '../../federation/upstream-accounts.js';
import type { UpstreamClient } from '../../federation/upstream-client.js';

interface Deps {
  provider: Provider;
  clients: ClientStore;
  citizens: CitizenStore;
  registration: Registration;
  secondFactors: SecondFactors;
  passkeys: Passkeys;
  loginAttempts: LoginAttempts;
  audit: Audit;
  /** A population service is configured: the assurance page offers the online check. */
  onlineCheckAvailable: boolean;
  /** The ways a code reaches a phone here, the first the default. */
  channels: readonly Channel[];
  phoneCodes: PhoneCodes;
  /** Signing in with a code sent to the phone is offered (PHONE_CODE_SIGN_IN). */
  codeSignIn: boolean;
  /** Calling codes of other countries whose numbers are accepted (PHONE_FOREIGN_PREFIXES). */
  foreignPrefixes: readonly string[];
  upstreams: Upstreams;
  throttle: Throttle;
  upstreamClient: UpstreamClient;
  upstreamAccounts: UpstreamAccounts;
  /** The units' APIs a service may ask to use on the citizen's behalf (named on the consent page). */
  resourceServers: ResourceServers;
}

/** The pages oidc-provider sends the browser to (/interaction/:uid): the sign-in, step by step. */
export function interactionRoutes(deps: Deps): Router {
  const assurance = assurancePage(deps.onlineCheckAvailable);
  const finishLogin = loginFinisher(deps.loginAttempts, assurance, deps.upstreamAccounts);
  const secondFactor = secondFactorPage(deps.secondFactors, deps.passkeys);

  // The login page links to the other ways to sign in that the interaction may use.
  const alternatives = async (interaction: Interaction) => (await Promise.all(steps.map((step) => step.alternatives?.(interaction) ?? []))).flat();
  const steps: InteractionStep[] = [
    loginStep({ ...deps, secondFactorPage: secondFactor, finishLogin, alternatives }),
    phoneCodeStep({ ...deps, secondFactorPage: secondFactor, finishLogin }),
    upstreamStep({ ...deps, secondFactorPage: secondFactor, finishLogin }),
    secondFactorStep({ ...deps, page: secondFactor, finishLogin }),
    assuranceStep({ ...deps, finishLogin }),
    consentStep(deps),
    abortStep(deps),
  ];

  const read = interactionReader(deps.provider, deps.clients);
  const router = new Router({ prefix: '/interaction/:uid' });
  router.use(finishedSignInPage((ctx, clientId) => clientOnPage(deps.clients, clientId, ctx.state.lang)));
  router.get('/', async (ctx) => {
    const interaction = await read(ctx);
    const page = steps.find((step) => step.page?.prompt === interaction.details.prompt.name)?.page;
    if (!page) throw new InputError('interaction_prompt_unknown');
    await page.show(ctx, interaction);
  });
  for (const step of steps) step.actions?.(router, read);
  return router;
}
