-- WebAuthn passkeys as a second factor (src/identity/passkeys.ts): the credential's public key
-- (not secret) with its signature counter, and whether it is synced between devices (amr swk)
-- or bound to one (hwk). Challenges are single use: one per account for adding a passkey, and one
-- per account and login (the interaction) for signing in, so that logins do not spoil each other.
create table passkeys (
  id text primary key,
  citizen_id uuid not null references citizens (id) on delete cascade,
  public_key text not null,
  counter bigint not null default 0,
  transports text not null default '',
  backed_up boolean not null,
  name text not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz
);
create index passkeys_citizen_idx on passkeys (citizen_id);

create table webauthn_challenges (
  citizen_id uuid not null references citizens (id) on delete cascade,
  ceremony text not null check (ceremony in ('register', 'authenticate')),
  login text not null default '',
  challenge text not null,
  expires_at timestamptz not null,
  primary key (citizen_id, ceremony, login)
);
