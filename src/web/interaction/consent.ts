import type Provider from 'oidc-provider';
import type { Audit } from '../../audit/audit.js';
import type { ResourceServers } from '../../clients/resource-servers.js';
import type { CitizenStore } from '../../identity/citizens.js';
import { InputError } from '../../errors.js';
import { seeOther } from '../forms.js';
import { render } from '../render.js';
import type { InteractionDetails } from './context.js';
import type { InteractionStep } from './step.js';

/** The scopes the provider asks the citizen to consent to. */
const missingScopes = (details: InteractionDetails): string[] => (details.prompt.details.missingOIDCScope as string[] | undefined) ?? [];

/** The claims (claims parameter) the provider asks the citizen to consent to. */
const missingClaims = (details: InteractionDetails): string[] => (details.prompt.details.missingOIDCClaims as string[] | undefined) ?? [];

/**
 * What the service already holds of what it asks for: the remembered grant's OIDC scopes, in the
 * order asked. Shown when the service asks to confirm again (prompt=consent, as a service asking
 * for offline_access does) and nothing new is missing.
 */
async function grantedScopes(provider: Provider, details: InteractionDetails): Promise<string[]> {
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const held = new Set((grant?.getOIDCScope() ?? '').split(' '));
  return [...new Set(String(details.params.scope ?? '').split(' '))].filter((scope) => scope && held.has(scope));
}

/** The scopes of units' APIs (resource indicators) the provider asks the citizen to consent to, by indicator. */
const missingResourceScopes = (details: InteractionDetails) => (details.prompt.details.missingResourceScopes ?? {}) as Record<string, string[]>;

/**
 * The consent page: what the service asks to see, and which units' APIs it asks to use on the
 * citizen's behalf with which scopes; granted once per service and remembered. A service may ask
 * to confirm again what it was granted: then the page says so, and lists what it receives.
 */
export function consentStep({ provider, citizens, audit, resourceServers }: { provider: Provider; citizens: CitizenStore; audit: Audit; resourceServers: ResourceServers }): InteractionStep {
  return {
    page: {
      prompt: 'consent',
      async show(ctx, interaction) {
        const citizen = await citizens.findById(String(interaction.details.session?.accountId));
        const missing = missingScopes(interaction.details);
        // Nothing new asked: the service asks to confirm again what it has (and will keep) receiving.
        const again = missing.length === 0 && missingClaims(interaction.details).length === 0 && Object.keys(missingResourceScopes(interaction.details)).length === 0;
        const scopes = again ? await grantedScopes(provider, interaction.details) : missing;
        const apis = await Promise.all(Object.entries(missingResourceScopes(interaction.details)).map(async ([indicator, scopes]) => ({
          name: (await resourceServers.findByIndicator(indicator))?.name ?? indicator,
          scopes: scopes.join(', '),
        })));
        render(ctx, 'interaction/consent', {
          action: interaction.action('consent'),
          abortAction: interaction.action('abort'),
          client: interaction.client,
          citizenName: citizen?.name ?? '',
          scopes: scopes.map((scope) => ({ scope })),
          apis,
          again,
        });
      },
    },

    actions(router, read) {
      router.post('/consent', async (ctx) => {
        const interaction = await read(ctx, 'consent');
        const { details, clientId } = interaction;
        const accountId = String(details.session?.accountId);
        const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId });
        if (!grant) throw new InputError('grant_unknown');
        const scopes = missingScopes(details);
        if (scopes.length) grant.addOIDCScope(scopes.join(' '));
        const claims = missingClaims(details);
        if (claims.length) grant.addOIDCClaims(claims);
        const resources = missingResourceScopes(details);
        for (const [indicator, resourceScopes] of Object.entries(resources)) grant.addResourceScope(indicator, resourceScopes.join(' '));
        const grantId = await grant.save();
        await audit({ type: 'consent.granted', citizenId: accountId, clientId, ip: ctx.ip, details: { scopes, ...(Object.keys(resources).length > 0 && { resources }) } });
        const to = await interaction.finish({ consent: { grantId } });
        seeOther(ctx, to);
      });
    },
  };
}
