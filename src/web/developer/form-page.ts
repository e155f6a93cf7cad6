import type { Context } from 'koa';
import {
  CLIENT_TYPES,
  CONFIDENTIAL_METHODS,
  REQUESTABLE_SCOPES,
  SENSITIVE_SCOPES,
  registrationForm,
  type RegistrationForm,
} from '../../clients/registration.js';
import type { ClientRequest } from '../../clients/requests.js';
import type { UnitClient } from '../../clients/clients.js';
import type { Unit } from '../../clients/units.js';
import { field } from '../forms.js';
import { render } from '../render.js';
import type { PageErrors } from './submission.js';

/** The registration form as posted: the registration's fields and, for a new client, the unit. */
export const postedForm = registrationForm.extend({ unit: field(100) });
export type PostedForm = RegistrationForm & { unit?: string };

export const emptyForm = (): PostedForm => postedForm.parse({});

interface FormPage {
  values: PostedForm;
  errors?: PageErrors;
  /** A new client: the developer's units to choose from. */
  units?: Unit[];
  /** A change: the client it changes, and its request already awaiting review, if any. */
  client?: UnitClient;
  openRequest?: ClientRequest;
}

/** The registration form (views/developer/form.eta), for a new client or a change to one. */
export function renderForm(ctx: Context, page: FormPage, status = 200): void {
  const { values, client } = page;
  render(
    ctx,
    'developer/form',
    {
      ...page,
      errors: page.errors ?? [],
      units: page.units ?? [],
      action: client ? `/developer/layanan/${encodeURIComponent(client.clientId)}/ubah` : '/developer/permintaan/baru',
      chosenScopes: [values.scopes].flat(),
      types: CLIENT_TYPES,
      methods: CONFIDENTIAL_METHODS,
      scopes: REQUESTABLE_SCOPES,
      sensitive: SENSITIVE_SCOPES,
    },
    status,
  );
}
