-- Who deactivated an account and why, kept while it stays deactivated, so that a directory sync
-- reactivates only the accounts it deactivated (never an administrator's deactivation).
ALTER TABLE users ADD COLUMN deactivated_by TEXT;
ALTER TABLE users ADD COLUMN deactivation_reason TEXT;
-- Accounts deactivated before: the source of their latest deactivation in the audit log (none
-- when it was pruned: such accounts are then left alone by sync).
UPDATE users SET deactivated_by = (
    SELECT a.source FROM audit_log a
    WHERE a.modified_user_id = users.id AND a.event_type = 'user_deactivated'
    ORDER BY a.id DESC LIMIT 1
) WHERE is_active = 0;
