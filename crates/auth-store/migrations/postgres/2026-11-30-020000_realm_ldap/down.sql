DROP TABLE realm_ldap;
