import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Staff } from '../identity/staff.js';
import { InputError } from '../errors.js';
import { seeOther } from './forms.js';
import { hasFields, jsonCookie } from './json-cookie.js';
import { render } from './render.js';

/** The invitation link's token, kept while the invited person signs in (or registers first). */
const pendingInvitation = jsonCookie('kid.invitation', 60 * 60 * 1000, (v): v is { token: string } => hasFields(v, { token: 'string' }));

/**
 * Staff invitations (/undangan): the emailed link shows who offers which role (before any sign-in);
 * the person signs in with the Kediri ID account of the invited email (or registers first) and
 * accepts it. The token leaves the URL at once, for a signed cookie.
 */
export function invitationRoutes(
  staff: Staff,
  { signedIn, currentAccount }: { signedIn: Middleware; currentAccount: (ctx: Context) => Promise<string | undefined> },
): Router {
  const router = new Router({ prefix: '/undangan' });

  router.get('/', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token.slice(0, 100) : '';
    if (token) {
      pendingInvitation.set(ctx, { token });
      return seeOther(ctx, '/undangan/terima');
    }
    throw new InputError('invitation_invalid');
  });

  router.get('/terima', async (ctx) => {
    const token = pendingInvitation.get(ctx)?.token;
    const accountId = await currentAccount(ctx);
    const invitation = token ? await staff.invitation(token, accountId) : undefined;
    // Signed out, a link that is no longer valid says so and nothing of the invitation.
    if (!invitation) throw new InputError(accountId ? 'invitation_invalid' : 'invitation_expired');
    render(ctx, 'invitation', { invitation, signedIn: accountId !== undefined });
  });

  router.post('/terima', signedIn, async (ctx) => {
    const token = pendingInvitation.get(ctx)?.token;
    if (!token) throw new InputError('invitation_invalid');
    const invitation = await staff.accept(token, ctx.state.accountId, ctx.ip);
    pendingInvitation.clear(ctx);
    seeOther(ctx, invitation.role === 'developer' ? '/developer' : invitation.role === 'admin' ? '/admin' : '/loket');
  });

  return router;
}
