-- The lifecycle rules' due users (connector.LifecycleStore): each pass asks
-- for the users whose onboarding.lifecycleDueAt (RFC 3339 UTC text to the
-- second, which sorts as time) has come; a partial index keeps that a range
-- read however many users have nothing due.
CREATE INDEX users_lifecycle_due ON users (json_extract(onboarding, '$.lifecycleDueAt'), id)
	WHERE json_extract(onboarding, '$.lifecycleDueAt') IS NOT NULL;
