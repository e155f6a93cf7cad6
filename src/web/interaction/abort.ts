import type Provider from 'oidc-provider';
import type { Audit } from '../../audit/audit.js';
import { seeOther } from '../forms.js';
import type { InteractionStep } from './step.js';

/** "Cancel" on any page of the interaction: back to the service with access_denied. */
export function abortStep({ provider, audit }: { provider: Provider; audit: Audit }): InteractionStep {
  return {
    actions(router, read) {
      router.post('/abort', async (ctx) => {
        const { details, clientId } = await read(ctx);
        if (details.prompt.name === 'consent') {
          await audit({ type: 'consent.denied', citizenId: String(details.session?.accountId), clientId, ip: ctx.ip });
        }
        const to = await provider.interactionResult(ctx.req, ctx.res, {
          error: 'access_denied',
          error_description: 'End-User aborted interaction',
        });
        seeOther(ctx, to);
      });
    },
  };
}
