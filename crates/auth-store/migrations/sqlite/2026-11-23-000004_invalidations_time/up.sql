-- Each read of the invalidation log also looks back a few seconds by time.
CREATE INDEX invalidations_created_at_idx ON invalidations (created_at);
