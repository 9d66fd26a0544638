-- /metrics reads the count and the oldest creation time of the queued jobs
-- of the deprovisioning kinds (JobKindStats) at every scrape: an index keeps
-- that a lookup however long the queue of invitations is.
CREATE INDEX jobs_kind ON jobs (kind, created) WHERE state = 'queued';
