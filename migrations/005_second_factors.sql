-- Second factors (src/identity/second-factors.ts): one TOTP app per account, its secret
-- encrypted, with the last time step used (a code is accepted once); and ten single-use recovery
-- codes, stored as keyed hashes.
-- "End all sessions" ends the portal sessions that began before it too.
alter table citizens add column sessions_ended_at timestamptz;

create table totp_factors (
  citizen_id uuid primary key references citizens (id) on delete cascade,
  secret_enc text not null,
  confirmed_at timestamptz,
  last_time_step bigint not null default 0,
  created_at timestamptz not null default now()
);

create table recovery_codes (
  citizen_id uuid not null references citizens (id) on delete cascade,
  code_hash text not null,
  used_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (citizen_id, code_hash)
);
