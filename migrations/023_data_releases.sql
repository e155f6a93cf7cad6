-- Releases of personal data (UU 27/2022, UU PDP): which claims about a citizen left Kediri ID for
-- which service, when, under which consent (grant). One row per citizen, service, consent, set of
-- claim names and day (Asia/Jakarta), with how many releases and the last one: a token response
-- adds to its row, so a day of refreshes is one row. Claim names only, never their values.
-- Owned by src/audit/data-releases.ts; the rows go with the account (on delete cascade).
create table data_releases (
  citizen_id uuid not null references citizens (id) on delete cascade,
  client_id text not null,
  grant_id text not null,
  claims text[] not null,
  day date not null,
  count integer not null default 1 check (count > 0),
  last_at timestamptz not null default now(),
  primary key (citizen_id, client_id, day, grant_id, claims)
);
-- The record of processing (/admin/privasi): releases per service and month.
create index data_releases_client_day_idx on data_releases (client_id, day);
