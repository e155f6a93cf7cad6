-- A signing key revoked in an emergency (a compromise, src/oidc/keys.ts): from revoked_at it is
-- neither published nor used, whatever its schedule says, and it never comes back. Its row stays
-- for the record; its private key is erased in the same transaction.
alter table signing_keys add column revoked_at timestamptz;
