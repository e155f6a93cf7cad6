-- Client-initiated backchannel authentication (OpenID Connect CIBA, poll mode): the clients an
-- administrator enabled for it (src/web/admin/review.ts). An MPP counter's system asks a citizen
-- standing in front of the officer to confirm on their own phone (src/oidc/ciba.ts).
alter table clients add column ciba boolean not null default false;
