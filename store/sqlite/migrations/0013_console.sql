-- The admin console's lists (connector.ConsoleStore), indexed so that a page
-- stays a range read at 100k users.
-- Who expires soon: the unfinished onboardings by expiresAt (RFC 3339 UTC
-- text in the onboarding JSON, which sorts as time to the second).
CREATE INDEX users_expiring ON users (json_extract(onboarding, '$.expiresAt'))
	WHERE state IN ('invited', 'redeemed', 'mfaRegistered');
-- Pending deprovisioning: active=false, not yet confirmed in the tenant.
CREATE INDEX users_deprovision ON users (id) WHERE active = 0 AND state <> 'disabled';
-- Failed jobs, newest first.
CREATE INDEX jobs_failed ON jobs (id) WHERE state = 'failed';
