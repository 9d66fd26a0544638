-- The tenant's invitation budget, shared by every replica and kept across
-- restarts (graph.InviteBudget): one row per tenant holding the time the
-- next invitation may be sent (a GCRA "theoretical arrival time", on the
-- database's clock). Each send moves it one interval (window / limit) on, so
-- no window ever holds more than the limit.
CREATE TABLE invite_budget (
	name text        PRIMARY KEY,
	next timestamptz NOT NULL
);
