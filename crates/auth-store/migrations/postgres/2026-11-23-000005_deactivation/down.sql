ALTER TABLE users DROP COLUMN deactivation_reason;
ALTER TABLE users DROP COLUMN deactivated_by;
