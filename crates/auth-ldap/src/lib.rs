//! `LDAPAuthBackend` on the `ldap3` crate: logs people in against OpenLDAP or Active Directory
//! (search-then-bind or a DN template; StartTLS or LDAPS with certificate verification on by
//! default; connect and operation timeouts; failover across servers; a pool of service
//! connections that survives directory restarts), maps usernames to emails as Zulip does, applies
//! organization membership, realm access rules and require/deny groups, sets roles from
//! directory groups (`role_by_group`), creates accounts on a
//! first login when the realm allows it, and syncs accounts with the directory without ever
//! reading an outage as "everyone left". It also checks a configuration against the directory
//! (every server on its own, the search base, the groups, the attribute names against the
//! schema) for `config check --connect`, the start of `serve` and `/readyz`.
//!
//! It reads and writes accounts only through the core's `AccountStore` port and reports typed
//! outcomes (`AuthFailure`), telling real credential failures (result 49, AD `52e`) from
//! directory refusals and from infrastructure errors. It must never depend on a database, an HTTP
//! framework or another backend; its only workspace dependency is `auth-core`.

mod backend;
mod bind;
mod check;
mod config;
mod conn;
mod directories;
mod directory;
mod entry;
mod filter;
mod finding;
mod link;
mod probe;
mod roles;
mod schema;
mod steps;
pub mod sync;
mod timing;

pub use backend::{
    AccountMatch, Assessment, LdapAuthBackend, assess, limit_identity_of, match_account,
};
pub use check::{DirectoryCheck, Finding, Level, check_directory};
pub use config::{AttributeMap, GroupMembership, LdapConfig, RoleGroups, SearchScope, SyncPolicy};
pub use conn::DirError;
pub use directories::{Directories, RealmDirectory, Serving};
pub use directory::{BindOutcome, Directory, fill_dn, fill_filter};
pub use entry::DirEntry;
pub use link::{RelinkPlan, entries_for_email, plan_relink};
pub use probe::{Prober, ServerProbe, ServerState};
pub use roles::{RoleGroup, directory_role};
pub use steps::{ConnectionTest, ServerSteps, Step, test_connection};
