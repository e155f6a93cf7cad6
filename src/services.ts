import type { Config } from './config.js';
import type { Db } from './db/db.js';
import { migrate } from './db/migrate.js';
import { createAudit } from './audit/audit.js';
import { createClientStore } from './clients/clients.js';
import { createCitizenStore } from './identity/citizens.js';
import { createPasswords } from './identity/passwords.js';
import { createSealer, resolveEncryptionKey } from './secrets.js';

/** The stores over one migrated database: what the server and the operator CLI share. */
export async function createServices(config: Config, db: Db) {
  await migrate(db);
  const sealer = createSealer(await resolveEncryptionKey(config));
  const audit = createAudit(db);
  const clients = createClientStore(db, sealer, audit);
  const citizens = createCitizenStore(db, sealer, createPasswords(config.argon2), audit);
  return { config, db, sealer, audit, clients, citizens };
}

export type Services = Awaited<ReturnType<typeof createServices>>;

