import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { ClientMetadata } from 'oidc-provider';
import { InputError } from '../errors.js';
import { RegistrationError, type ValidateMetadata } from '../clients/dynamic-registration.js';
import type { AppDeps } from './app.js';
import { lazyBodyParser } from './body-parser.js';
import { isDatabaseUnavailable, unstorableInJson } from '../db/db.js';

/** The token of an `Authorization: Bearer <token>` header, or '' (RFC 6750 §2.1). */
function bearer(ctx: Context): string {
  return /^Bearer ([\w.~+/-]+=*)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
}

/** A JSON body, or undefined (which the metadata check refuses) for any other content type. */
const jsonBody = (ctx: Context): unknown => (ctx.is('application/json') ? ctx.request.body : undefined);

/** These routes answer programs with a bearer token, not forms: no CSRF token (see csrf.ts). */
export const DYNAMIC_REGISTRATION_ENDPOINTS = ['registration.create', 'registration.update', 'registration.delete'];

/**
 * RFC 7591 dynamic client registration (POST /reg with an initial access token) and RFC 7592
 * management (GET, PUT, DELETE /reg/:clientId with the client's registration access token).
 * Every answer is JSON, errors included (RFC 7591 §3.2.2), and is never cached.
 */
export function dynamicRegistrationRoutes({ dynamicRegistration, provider, log }: Pick<AppDeps, 'dynamicRegistration' | 'provider' | 'log'>): Router {
  const router = new Router({ prefix: '/reg' });
  const parseJson = lazyBodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
  // Whatever the body parser cannot read (bad JSON, an encoding it refuses) is the client's fault.
  const json = async (ctx: Context, next: Next) => {
    try {
      await parseJson(ctx, async () => undefined);
    } catch (error) {
      if ((error as { status?: unknown }).status === 413) throw error;
      throw new RegistrationError(400, 'invalid_client_metadata', 'the body could not be read as JSON');
    }
    // Text PostgreSQL cannot store (NUL, a lone surrogate) in any field.
    if (unstorableInJson(JSON.stringify(ctx.request.body ?? null))) {
      throw new RegistrationError(400, 'invalid_client_metadata', 'a field holds a character that cannot be stored');
    }
    await next();
  };
  const validate: ValidateMetadata = (metadata) => provider.Client.validate(metadata as ClientMetadata);

  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      const answer = (status: number, code: string, description: string) => {
        ctx.status = status;
        ctx.body = { error: code, error_description: description };
      };
      const status = (error as { status?: unknown }).status;
      if (error instanceof RegistrationError) {
        answer(error.status, error.error, error.message);
        if (error.status === 401) ctx.set('WWW-Authenticate', `Bearer error="${error.error}"`);
      } else if (error instanceof InputError) {
        answer(400, 'invalid_request', error.code);
      } else if (status === 413) {
        answer(413, 'invalid_client_metadata', 'the body is larger than 64 kB');
      } else if (status === 400 || status === 415) {
        answer(400, 'invalid_client_metadata', 'the body is not a JSON object');
      } else {
        log.error({ err: error, path: ctx.path }, 'client registration failed');
        const unavailable = isDatabaseUnavailable(error);
        answer(unavailable ? 503 : 500, unavailable ? 'temporarily_unavailable' : 'server_error', 'the request could not be completed');
      }
    }
  });

  router.post('registration.create', '/', json, async (ctx) => {
    ctx.body = await dynamicRegistration.register(bearer(ctx), jsonBody(ctx), ctx.ip, validate);
    ctx.status = 201;
  });

  router.get('/:clientId', async (ctx) => {
    // A read rotates the registration access token: a HEAD (which the router answers here too)
    // would rotate it and drop the new one with the body.
    if (ctx.method !== 'GET') {
      ctx.set('Allow', 'GET, PUT, DELETE');
      ctx.status = 405;
      return;
    }
    ctx.body = await dynamicRegistration.read(ctx.params.clientId!, bearer(ctx), ctx.ip);
  });

  router.put('registration.update', '/:clientId', json, async (ctx) => {
    ctx.body = await dynamicRegistration.update(ctx.params.clientId!, bearer(ctx), jsonBody(ctx), ctx.ip, validate);
  });

  router.delete('registration.delete', '/:clientId', async (ctx) => {
    await dynamicRegistration.remove(ctx.params.clientId!, bearer(ctx), ctx.ip);
    ctx.status = 204;
  });

  return router;
}
