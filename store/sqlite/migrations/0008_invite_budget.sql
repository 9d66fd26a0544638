-- The tenant's invitation budget, shared by every process on the database
-- and kept across restarts (graph.InviteBudget): one row per tenant holding
-- the time the next invitation may be sent (a GCRA "theoretical arrival
-- time", unix microseconds). Each send moves it one interval
-- (window / limit) on, so no window ever holds more than the limit.
CREATE TABLE invite_budget (
	name TEXT    PRIMARY KEY,
	next INTEGER NOT NULL
) STRICT;
