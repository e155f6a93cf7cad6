import type { Context } from 'koa';
import type { ClientRequest, ClientRequests } from '../../clients/requests.js';
import type { UnitClient } from '../../clients/clients.js';
import type { Unit, Units } from '../../clients/units.js';
import type { Staff } from '../../identity/staff.js';

const CLIENT_ID_MAX = 200;

/**
 * What a developer may see: the units they work for, and the requests and clients of those units
 * only. Anything else is answered 404, as if it did not exist, so that ids do not leak.
 */
export function developerAccess({ staff, units, clientRequests }: { staff: Staff; units: Units; clientRequests: ClientRequests }) {
  /** The slugs of the developer's units, looked up once per request. */
  async function unitsOf(ctx: Context): Promise<string[]> {
    ctx.state.developerUnits ??= await staff.unitsOf(ctx.state.accountId);
    return ctx.state.developerUnits as string[];
  }

  return {
    unitsOf,

    /** The developer's units with their names, for headings and the unit choice. */
    async unitList(ctx: Context): Promise<Unit[]> {
      const mine = await unitsOf(ctx);
      return (await units.list()).filter((unit) => mine.includes(unit.slug));
    },

    /** A request of one of the developer's units, with its comparison to the live client. */
    async request(ctx: Context, id: string) {
      const found = await clientRequests.withComparison(id);
      if (!found || !(await unitsOf(ctx)).includes(found.request.unit)) return ctx.throw(404);
      return found;
    },

    /** A client of one of the developer's units. */
    async client(ctx: Context, clientId: string): Promise<UnitClient> {
      const client = clientId.length <= CLIENT_ID_MAX ? await clientRequests.client(clientId) : undefined;
      if (!client || !(await unitsOf(ctx)).includes(client.unit)) return ctx.throw(404);
      return client;
    },

    /** The client's request that awaits review, if any (one at a time). */
    async openRequest(client: UnitClient): Promise<ClientRequest | undefined> {
      return (await clientRequests.forUnits([client.unit])).find((r) => r.clientId === client.clientId && r.status === 'pending');
    },
  };
}

export type DeveloperAccess = ReturnType<typeof developerAccess>;
