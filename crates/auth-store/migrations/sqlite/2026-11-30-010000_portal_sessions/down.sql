DELETE FROM sessions WHERE portal_domain IS NOT NULL;
ALTER TABLE sessions DROP COLUMN portal_domain;
