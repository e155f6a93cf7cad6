import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import type { CibaConfirmations } from '../../oidc/ciba.js';
import { field, parseForm, seeOther } from '../forms.js';

const answerForm = z.object({ request: field(200), answer: z.enum(['setujui', 'tolak']) });

/**
 * The citizen's answer to a counter's request to confirm (CIBA, src/oidc/ciba.ts), from the list
 * on /akun: approve or deny one of their own requests that still waits.
 */
export function confirmationRoutes(confirmations: CibaConfirmations, signedIn: Middleware): Router {
  const router = new Router({ prefix: '/akun' });
  router.use(signedIn);

  router.post('/konfirmasi', async (ctx) => {
    const { request, answer } = parseForm(ctx, answerForm);
    const approve = answer === 'setujui';
    if (!(await confirmations.answer(ctx.state.accountId, request, approve, ctx.ip))) throw new InputError('confirmation_unknown');
    seeOther(ctx, `/akun?${approve ? 'disetujui' : 'ditolak'}=1`);
  });

  return router;
}
