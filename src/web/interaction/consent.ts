import type Provider from 'oidc-provider';
import type { Audit } from '../../audit/audit.js';
import type { CitizenStore } from '../../identity/citizens.js';
import { InputError } from '../../errors.js';
import { seeOther } from '../forms.js';
import { render } from '../render.js';
import type { InteractionDetails } from './context.js';
import type { InteractionStep } from './step.js';

/** The scopes the provider asks the citizen to consent to. */
const missingScopes = (details: InteractionDetails): string[] => (details.prompt.details.missingOIDCScope as string[] | undefined) ?? [];

/** The consent page: what the service asks to see, granted once per service and remembered. */
export function consentStep({ provider, citizens, audit }: { provider: Provider; citizens: CitizenStore; audit: Audit }): InteractionStep {
  return {
    page: {
      prompt: 'consent',
      async show(ctx, interaction) {
        const citizen = await citizens.findById(String(interaction.details.session?.accountId));
        render(ctx, 'interaction/consent', {
          action: interaction.action('consent'),
          abortAction: interaction.action('abort'),
          client: interaction.client,
          citizenName: citizen?.name ?? '',
          scopes: missingScopes(interaction.details).map((scope) => ({ scope })),
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
        const missing = details.prompt.details;
        const scopes = missingScopes(details);
        if (scopes.length) grant.addOIDCScope(scopes.join(' '));
        const claims = (missing.missingOIDCClaims as string[] | undefined) ?? [];
        if (claims.length) grant.addOIDCClaims(claims);
        for (const [indicator, resourceScopes] of Object.entries((missing.missingResourceScopes ?? {}) as Record<string, string[]>)) {
          grant.addResourceScope(indicator, resourceScopes.join(' '));
        }
        const grantId = await grant.save();
        await audit({ type: 'consent.granted', citizenId: accountId, clientId, ip: ctx.ip, details: { scopes } });
        const to = await interaction.finish({ consent: { grantId } });
        seeOther(ctx, to);
      });
    },
  };
}
