import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import type { Db } from './db/db.js';
import { migrate } from './db/migrate.js';
import { createAudit } from './audit/audit.js';
import { createAuditSearch } from './audit/audit-search.js';
import { createClientStore } from './clients/clients.js';
import { createClientRequests } from './clients/requests.js';
import { createDynamicRegistration } from './clients/dynamic-registration.js';
import { createUnits } from './clients/units.js';
import { createCatalogue } from './clients/catalogue.js';
import { createCatalogueProposals } from './clients/catalogue-proposals.js';
import { createResourceServers } from './clients/resource-servers.js';
import { createCitizenStore } from './identity/citizens.js';
import { createPasswords } from './identity/passwords.js';
import { createAccountTokens } from './identity/account-tokens.js';
import { createPasswordReset } from './identity/password-reset.js';
import { createRegistration } from './identity/registration.js';
import { createProfile } from './identity/profile.js';
import { createOutbox } from './email/outbox.js';
import { createMessageOutbox } from './messaging/outbox.js';
import { createPhoneCodes } from './identity/phone-codes.js';
import { createCitizenNotices } from './identity/citizen-notices.js';
import { createStaff } from './identity/staff.js';
import { createThrottle } from './identity/throttle.js';
import { createAccount } from './identity/account.js';
import { createDataReleases } from './audit/data-releases.js';
import { createCitizenAdmin } from './identity/citizen-admin.js';
import { createSecondFactors } from './identity/second-factors.js';
import { createPasskeys } from './identity/passkeys.js';
import { createLoginAttempts } from './identity/login-attempt.js';
import { cachedPopulationVerifier, httpPopulationVerifier } from './identity/population-verifier.js';
import { createIdentityVerification } from './identity/identity-verification.js';
import { createSealer, resolveEncryptionKey } from './secrets.js';
import { createSigningKeys } from './oidc/keys.js';
import { createKeyRevocation } from './oidc/key-revocation.js';
import { createLogoutOutbox } from './oidc/logout-outbox.js';
import { createAccountSessions } from './oidc/account-sessions.js';
import { countLiveSessions, deleteClientPayloads, sweepExpired } from './oidc/payloads.js';
import { createUpstreams, upstreamAddress } from './federation/upstreams.js';
import { createUpstreamAccounts, UPSTREAM_EXPIRING } from './federation/upstream-accounts.js';
import { createUpstreamClient } from './federation/upstream-client.js';
import { createMetrics } from './metrics.js';
import { createRetention, lastRetentionSuccess } from './retention.js';
import { createLogger, type Logger } from './log.js';

/**
 * The stores over one migrated database: what the server and the operator CLI share. The clock is
 * the system's except in tests that move it.
 */
export async function createServices(config: Config, db: Db, log: Logger = createLogger('silent'), clock: Clock = systemClock) {
  await migrate(db);
  const sealer = createSealer(await resolveEncryptionKey(config));
  const metrics = createMetrics(db, { liveSessions: () => countLiveSessions(db), retentionLastSuccess: () => lastRetentionSuccess(db) });
  // Every audited event is counted, and logged as a line of its own (the details never hold secrets or NIKs).
  const audit = createAudit(db, (event) => {
    metrics.securityEvent(event);
    const { type, ...rest } = event;
    log.info({ securityEvent: type, ...rest }, 'security event');
  });
  const clients = createClientStore(db, sealer, audit);
  const passwords = createPasswords(config.argon2, config.argon2Concurrency);
  const citizens = createCitizenStore(db, sealer, passwords, audit, config.phone.foreignPrefixes);
  const outbox = createOutbox(db);
  const messages = createMessageOutbox(db);
  const tokens = createAccountTokens(sealer);
  // Identity ends and lists sessions through src/oidc without importing it (identity/sessions.ts).
  const sessions = createAccountSessions(db);
  const throttle = createThrottle(db, config.throttle, metrics.throttled);
  const phoneCodes = createPhoneCodes({ db, sealer, messages, audit, throttle, dailyBudget: config.phone.dailyBudget, refused: metrics.messageRefused });
  const notices = createCitizenNotices({ outbox, messages, lockoutMinutes: config.throttle.lockoutMinutes, retention: config.retention });
  const accountDeps = { db, issuer: config.issuer, citizens, sessions, tokens, outbox, phoneCodes, notices, audit };
  const registration = createRegistration(accountDeps);
  const profile = createProfile(accountDeps);
  const staff = createStaff(db, sealer, citizens, outbox, audit, config.issuer, { notices, phoneCodes });
  const clientRequests = createClientRequests(db, clients, citizens, outbox, audit, config.issuer);
  const dynamicRegistration = createDynamicRegistration(
    db, sealer, audit, { clients, citizens, clientRequests, revokeClientPayloads: deleteClientPayloads }, config.issuer,
  );
  const units = createUnits(db, audit);
  const catalogue = createCatalogue(db, audit, units);
  const catalogueProposals = createCatalogueProposals(db, audit, catalogue);
  // The units' APIs that clients ask JWT access tokens for (RFC 8707 resource indicators).
  const resourceServers = createResourceServers(db, audit, clients, { production: config.production });
  // Without a configured population service, identities are verified at the MPP counter only.
  const identityVerification = config.populationVerifier
    ? createIdentityVerification(db, citizens, cachedPopulationVerifier(db, sealer, httpPopulationVerifier(config.populationVerifier), 'population-service'), audit)
    : undefined;
  // What of each citizen's data each service was given (UU PDP): recorded by the provider, shown on /akun and /admin/privasi.
  const dataReleases = createDataReleases(db);
  const account = createAccount(db, sealer, citizens, sessions, notices, audit, throttle, dataReleases);
  const secondFactors = createSecondFactors(db, sealer, citizens, outbox, audit, clock);
  const passkeys = createPasskeys(db, secondFactors, config.issuer);
  const loginAttempts = createLoginAttempts({
    ...{ citizens, throttle, phoneCodes, identityVerification, notices, audit },
    countLogin: metrics.login,
  });
  // A reset code counts towards the account's lock as a password does (loginAttempts.phoneCode).
  const passwordReset = createPasswordReset({ ...accountDeps, sealer, loginAttempts });
  const signingKeys = createSigningKeys(db, sealer, audit, config.keyPromotionSeconds);
  const keyRevocation = createKeyRevocation({ db, signingKeys, staff, outbox, audit, issuer: config.issuer });
  const citizenAdmin = createCitizenAdmin(db, citizens, sessions, outbox, audit, throttle);
  const auditSearch = createAuditSearch(db);
  const logoutOutbox = createLogoutOutbox(db);
  // Signing in with a national identity provider (INApas, IKD): Kediri ID as their relying party.
  const upstreams = createUpstreams(db, sealer, audit, { production: config.production });
  // The upstream UPSTREAM_* describe is written (when it changed) at every start.
  if (config.upstream) await upstreams.applyEnvironment(config.upstream);
  const upstreamAccounts = createUpstreamAccounts({ db, sealer, citizens, sessions, tokens, outbox, audit });
  const upstreamClient = createUpstreamClient({
    timeoutSeconds: config.upstreamTimeoutSeconds,
    redirectUri: (slug) => upstreamAddress(config.issuer, slug, 'kembali'),
  });
  // Every table with expiring rows, swept by its owner (docs/operations.md lists them).
  const retention = createRetention({
    db, citizens, notices, audit, log, metrics: metrics.retention, policy: config.retention,
    sweeps: {
      oidc_payloads: (limit) => sweepExpired(db, audit, limit),
      throttle: (limit) => throttle.sweep(limit),
      account_tokens: (limit) => tokens.sweep(db, limit),
      phone_codes: (limit) => phoneCodes.sweep(limit),
      webauthn_challenges: (limit) => passkeys.sweep(limit),
      staff_invitations: (limit) => staff.sweep(limit),
      initial_access_tokens: (limit) => dynamicRegistration.sweep(limit),
      outbox: (limit) => outbox.sweep(limit),
      message_outbox: (limit) => messages.sweep(limit),
      logout_outbox: (limit) => logoutOutbox.sweep(limit),
      ...Object.fromEntries(UPSTREAM_EXPIRING.map((table) => [table, (limit: number) => upstreamAccounts.sweep(table, limit)])),
    },
  });
  return {
    ...{ config, db, sealer, audit, clients, citizens, outbox, messages, phoneCodes, registration, passwordReset, staff },
    ...{ identityVerification, throttle, account, secondFactors, passkeys, loginAttempts, clientRequests, units, profile },
    ...{ dynamicRegistration, passwords, metrics, notices },
    ...{ citizenAdmin, auditSearch, signingKeys, keyRevocation, logoutOutbox, catalogue, catalogueProposals, resourceServers },
    ...{ upstreams, upstreamAccounts, upstreamClient, retention, dataReleases },
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;

