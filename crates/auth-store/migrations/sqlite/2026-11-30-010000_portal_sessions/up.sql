-- Portal sessions (docs/web.md, "The login portal"): rows of the same table, marked with the
-- configured cookie domain they were started for. NULL: a session of the realm's own pages.
ALTER TABLE sessions ADD COLUMN portal_domain TEXT;
