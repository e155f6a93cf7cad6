import type { Audit } from '../../audit/audit.js';
import { seeOther } from '../forms.js';
import type { InteractionStep } from './step.js';

/** "Cancel" on any page of the interaction: back to the service with access_denied. */
export function abortStep({ audit }: { audit: Audit }): InteractionStep {
  return {
    actions(router, read) {
      router.post('/abort', async (ctx) => {
        const interaction = await read(ctx);
        const { details, clientId } = interaction;
        if (details.prompt.name === 'consent') {
          await audit({ type: 'consent.denied', citizenId: String(details.session?.accountId), clientId, ip: ctx.ip });
        }
        const to = await interaction.finish({
          error: 'access_denied',
          error_description: 'End-User aborted interaction',
        });
        seeOther(ctx, to);
      });
    },
  };
}
