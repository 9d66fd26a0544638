-- Webhook delivery (package webhook). Times here are bigint unix
-- microseconds on both backends (0: none), so that the shared statements
-- need no dialect.
--
-- One row per configured receiver: its cursor in the event log (every event
-- up to after_id has its delivery rows) and the statistics the console and
-- /metrics show.
CREATE TABLE webhook_receivers (
	name         text    PRIMARY KEY,
	after_id     bigint NOT NULL DEFAULT 0,
	last_success bigint NOT NULL DEFAULT 0,
	last_failure bigint NOT NULL DEFAULT 0,
	last_error   text    NOT NULL DEFAULT '',
	failures     bigint NOT NULL DEFAULT 0, -- consecutive, since the last success
	dropped      bigint NOT NULL DEFAULT 0
);

-- One row per (receiver, event). A delivered row is kept until the
-- receiver's cursor passes it, so that re-reading the log above the cursor
-- cannot deliver it again.
CREATE TABLE webhook_deliveries (
	webhook     text    NOT NULL,
	event_id    bigint NOT NULL,
	state       text    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered')),
	attempts    bigint NOT NULL DEFAULT 0,
	run_at      bigint NOT NULL,
	created     bigint NOT NULL,
	last_error  text    NOT NULL DEFAULT '',
	lease_owner text    NOT NULL DEFAULT '',
	lease_until bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (webhook, event_id)
);
-- The claim (due rows of one receiver) and the status (count and oldest).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook, run_at) WHERE state = 'queued';
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (webhook, created) WHERE state = 'queued';
