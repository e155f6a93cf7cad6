-- Brute-force defence shared by every process (src/identity/throttle.ts): failure counters per
-- account (or per unknown identifier) and attempt counters per IP address and action.
create table throttle (
  key text primary key,
  count int not null,
  window_start timestamptz not null,
  -- No attempt before this: a growing wait, or the lock.
  blocked_until timestamptz,
  -- When the lock (not a wait) ends; after it the count starts again.
  locked_until timestamptz
);
create index throttle_window_idx on throttle (window_start);
