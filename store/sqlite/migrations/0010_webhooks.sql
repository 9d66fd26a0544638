-- Webhook delivery (package webhook). Times here are INTEGER unix
-- microseconds on both backends (0: none), so that the shared statements
-- need no dialect.
--
-- One row per configured receiver: its cursor in the event log (every event
-- up to after_id has its delivery rows) and the statistics the console and
-- /metrics show.
CREATE TABLE webhook_receivers (
	name         TEXT    PRIMARY KEY,
	after_id     INTEGER NOT NULL DEFAULT 0,
	last_success INTEGER NOT NULL DEFAULT 0,
	last_failure INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT    NOT NULL DEFAULT '',
	failures     INTEGER NOT NULL DEFAULT 0, -- consecutive, since the last success
	dropped      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One row per (receiver, event). A delivered row is kept until the
-- receiver's cursor passes it, so that re-reading the log above the cursor
-- cannot deliver it again.
CREATE TABLE webhook_deliveries (
	webhook     TEXT    NOT NULL,
	event_id    INTEGER NOT NULL,
	state       TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	run_at      INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	last_error  TEXT    NOT NULL DEFAULT '',
	lease_owner TEXT    NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (webhook, event_id)
) STRICT;
-- The claim (due rows of one receiver) and the status (count and oldest).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook, run_at) WHERE state = 'queued';
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (webhook, created) WHERE state = 'queued';
