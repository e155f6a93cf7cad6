-- Every server process keeps the accounts its provider requests read in memory
-- (src/identity/citizens.ts, current) and forgets one when a change to its row is announced on
-- the citizen_changed channel, whichever process or tool made it. Notifications are sent when the
-- transaction commits. A new row needs none: only rows that exist are kept.
create function notify_citizen_changed() returns trigger language plpgsql as $$
begin
  perform pg_notify('citizen_changed', old.id::text);
  return null;
end
$$;

create trigger citizens_changed after update or delete on citizens
  for each row execute function notify_citizen_changed();
