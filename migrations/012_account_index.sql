-- The account page, the remembered-grant lookup and "end all sessions" find an account's grants
-- and sessions by payload->>'accountId': an index, for a city's (and a province's) worth of rows.
create index oidc_payloads_account_idx on oidc_payloads ((payload->>'accountId'), model) where payload->>'accountId' is not null;
