-- Population-data checks (src/identity/population-verifier.ts): the permanent cache of matches, so
-- that a NIK verified with the given data is never sent to the population service again.
-- Only matches are kept: a no-match or not-found may be a typo and is asked again; quota and
-- unavailability say nothing about the person.
--
-- nik_hash is the keyed hash of the NIK (purpose 'nik', the same as citizens.nik_hash), never the
-- NIK. query_hash is the keyed hash of the NIK with the name, birth place and birth date that
-- matched: other data presented for the same NIK is checked again, not taken as verified.
create table population_checks (
  nik_hash text primary key,
  query_hash text not null,
  result text not null check (result in ('match')),
  checked_at timestamptz not null default now(),
  source text not null
);
