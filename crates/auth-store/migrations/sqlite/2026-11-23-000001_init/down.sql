DROP TABLE server_meta;
DROP TABLE audit_log;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE realms;
