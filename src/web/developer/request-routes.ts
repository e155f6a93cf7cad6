import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { InputError } from '../../errors.js';
import type { AppDeps } from '../app.js';
import { message, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { DeveloperAccess } from './access.js';
import { emptyForm, postedForm, renderForm, type PostedForm } from './form-page.js';
import { checkSubmission, pageErrors } from './submission.js';

/**
 * Registration requests: a new client (/developer/permintaan/baru), a request's page with its
 * status, the reviewer's reason and the side-by-side comparison, and the client secret of an
 * approved request, shown once.
 */
export function requestRoutes(router: Router, { provider, clientRequests }: AppDeps, access: DeveloperAccess, recentLogin: Middleware): void {
  /** The unit a new client is for: the one chosen, or the developer's only unit. */
  function unitProblem(form: PostedForm, units: string[]): InputError | undefined {
    if (!form.unit) return units.length === 1 ? undefined : new InputError('unit_required', 'unit');
    return units.includes(form.unit) ? undefined : new InputError('unit_invalid', 'unit');
  }

  /** A developer no longer tied to any unit has nothing to register for. */
  async function withUnits(ctx: Context, next: Next) {
    if ((await access.unitsOf(ctx)).length > 0) return next();
    render(ctx, 'error', { message: message(ctx, 'developer.no_units'), backHref: '/developer' }, 403);
  }

  router.get('/permintaan/baru', withUnits, async (ctx) => {
    renderForm(ctx, { values: emptyForm(), units: await access.unitList(ctx) });
  });

  router.post('/permintaan/baru', recentLogin, withUnits, async (ctx) => {
    const form = parseForm(ctx, postedForm);
    const units = await access.unitsOf(ctx);
    const checked = await checkSubmission(provider, form);
    const problems = [unitProblem(form, units), ...(checked.ok ? [] : checked.problems)].filter((p) => p !== undefined);
    if (!checked.ok || problems.length > 0) {
      return renderForm(ctx, { values: form, errors: pageErrors(ctx, problems), units: await access.unitList(ctx) }, 400);
    }
    const unit = form.unit || units[0]!;
    const id = await clientRequests.submit({ unit, registration: checked.registration, submittedBy: ctx.state.accountId });
    seeOther(ctx, `/developer/permintaan/${id}`);
  });

  router.get('/permintaan/:id', async (ctx) => {
    const { request, comparison } = await access.request(ctx, ctx.params.id!);
    const client = request.clientId ? await clientRequests.client(request.clientId) : undefined;
    render(ctx, 'developer/request', {
      request,
      comparison,
      client,
      secretWaiting: request.status === 'approved' && client?.secretWaiting === true,
    });
  });

  // The secret of the client an approved request made, once; afterwards the page says so.
  router.post('/permintaan/:id/rahasia', recentLogin, async (ctx) => {
    const { request } = await access.request(ctx, ctx.params.id!);
    const clientId = request.status === 'approved' ? request.clientId : null;
    if (!clientId) return ctx.throw(404);
    const secret = await clientRequests.revealSecret(clientId, ctx.state.accountId, ctx.ip);
    render(ctx, 'developer/secret', { client: await access.client(ctx, clientId), secret });
  });
}
