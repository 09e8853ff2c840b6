//! Roles from directory groups (Zulip's `AUTH_LDAP_USER_FLAGS_BY_GROUP` for `is_realm_owner`,
//! `is_realm_admin`, `is_moderator` and `is_guest`): `[ldap.role_by_group]` names a group DN
//! per role; membership is read the way `require_group` and `deny_group` are.
//!
//! The rules (docs/ldap.md, "Roles from groups"):
//! - Precedence: owner, administrator, moderator, guest. A person in several role groups gets
//!   the first that matches (the most privileged; a guest who is also in the administrator
//!   group is an administrator). Groups are read in that order and reading stops at the first
//!   match.
//! - The directory wins for the roles it maps: a person in a role group gets that role at every
//!   login and `ldap sync`, whatever an administrator set by hand.
//! - A person in none of the groups whose current role is a mapped one (e.g. an administrator
//!   when `administrator` is mapped) lost it in the directory and becomes a member. A role
//!   that is not mapped (e.g. an owner set by hand when `owner` is not mapped) is kept.
//! - The store never takes the owner role from a realm's last active owner; such a change is
//!   refused and audited (`user_role_change_refused`).

use auth_core::Role;
use ldap3::Ldap;

use crate::config::RoleGroups;
use crate::conn::DirError;
use crate::directory::Directory;
use crate::entry::DirEntry;

/// The role group a person is in, as read from the directory: `None` when in none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGroup {
    pub role: Role,
    pub group: String,
}

/// Reads the person's role groups in precedence order and stops at the first they are in
/// (groups are read on `conn` when there is no service account).
pub(crate) async fn role_group(
    dir: &Directory,
    mut conn: Option<&mut Ldap>,
    entry: &DirEntry,
    username: &str,
) -> Result<Option<RoleGroup>, DirError> {
    for (role, _, dn) in dir.config().role_by_group.in_order() {
        if dir
            .is_member(conn.as_deref_mut(), entry, username, dn)
            .await?
        {
            return Ok(Some(RoleGroup {
                role,
                group: dn.to_owned(),
            }));
        }
    }
    Ok(None)
}

/// The role change the directory asks for, with its reason for the audit log; `None` when the
/// role stays as it is.
pub fn directory_role(
    groups: &RoleGroups,
    current: Role,
    found: Option<&RoleGroup>,
) -> Option<(Role, String)> {
    match found {
        Some(g) if g.role != current => Some((g.role, format!("in role group {}", g.group))),
        Some(_) => None,
        None if groups.maps(current) => Some((
            Role::Member,
            format!("in none of the role groups (was {})", current.name()),
        )),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> RoleGroups {
        RoleGroups {
            owner: Some("cn=owners".into()),
            administrator: Some("cn=admins".into()),
            moderator: Some("cn=mods".into()),
            guest: Some("cn=guests".into()),
        }
    }

    fn found(role: Role, group: &str) -> RoleGroup {
        RoleGroup {
            role,
            group: group.into(),
        }
    }

    #[test]
    fn groups_are_read_most_privileged_first() {
        let order: Vec<_> = all().in_order().map(|(r, n, _)| (r, n)).collect();
        assert_eq!(
            order,
            vec![
                (Role::Owner, "owner"),
                (Role::Administrator, "administrator"),
                (Role::Moderator, "moderator"),
                (Role::Guest, "guest"),
            ]
        );
        let partial = RoleGroups {
            guest: Some("cn=guests".into()),
            administrator: Some("cn=admins".into()),
            ..RoleGroups::default()
        };
        let order: Vec<_> = partial.in_order().map(|(r, _, dn)| (r, dn)).collect();
        assert_eq!(
            order,
            vec![
                (Role::Administrator, "cn=admins"),
                (Role::Guest, "cn=guests")
            ]
        );
        assert!(partial.is_configured());
        assert!(!RoleGroups::default().is_configured());
        assert!(partial.maps(Role::Guest) && !partial.maps(Role::Owner));
        assert!(!all().maps(Role::Member));
    }

    #[test]
    fn the_directory_wins_for_people_in_a_role_group() {
        let g = all();
        // A member (or a guest, or an owner set by hand) in the admin group becomes an admin.
        for current in [Role::Member, Role::Guest, Role::Owner, Role::Moderator] {
            assert_eq!(
                directory_role(&g, current, Some(&found(Role::Administrator, "cn=admins"))),
                Some((Role::Administrator, "in role group cn=admins".into())),
                "{current:?}"
            );
        }
        // Already so: nothing to change.
        assert_eq!(
            directory_role(&g, Role::Guest, Some(&found(Role::Guest, "cn=guests"))),
            None
        );
    }

    #[test]
    fn leaving_every_group_demotes_only_mapped_roles() {
        let admins_only = RoleGroups {
            administrator: Some("cn=admins".into()),
            ..RoleGroups::default()
        };
        let (role, why) = directory_role(&admins_only, Role::Administrator, None).unwrap();
        assert_eq!(role, Role::Member);
        assert!(why.contains("none of the role groups"), "{why}");
        // Roles the mapping does not name are the administrators' to give, and are kept.
        for kept in [Role::Owner, Role::Moderator, Role::Guest, Role::Member] {
            assert_eq!(directory_role(&admins_only, kept, None), None, "{kept:?}");
        }
        // A mapped guest role is lost the same way.
        assert_eq!(
            directory_role(&all(), Role::Guest, None).map(|(r, _)| r),
            Some(Role::Member)
        );
        // No mapping: the directory never touches roles.
        for current in [Role::Owner, Role::Administrator, Role::Guest] {
            assert_eq!(directory_role(&RoleGroups::default(), current, None), None);
        }
    }

    #[test]
    fn group_settings_must_be_dns() {
        let mut g = all();
        assert!(g.problems().is_empty());
        g.moderator = Some("moderators".into());
        g.guest = Some(" ".into());
        let p = g.problems().join("\n");
        assert!(p.contains("role_by_group.moderator"), "{p}");
        assert!(p.contains("role_by_group.guest"), "{p}");
    }
}
