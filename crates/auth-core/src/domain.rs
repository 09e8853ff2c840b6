//! Realms, users and the values that describe them.

use std::fmt;

/// Database id of a realm (an organization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealmId(pub i64);

/// Database id of a user (people and bots alike), the `user_id` of the Zulip API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl fmt::Display for RealmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Microseconds since the Unix epoch. The core has no clock; callers supply times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Which login methods a realm has switched on (Zulip's per-realm authentication methods).
/// A method works only if the server also has its backend configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthMethods {
    pub email: bool,
    pub ldap: bool,
    pub dev: bool,
}

impl Default for AuthMethods {
    fn default() -> Self {
        AuthMethods {
            email: true,
            ldap: true,
            dev: true,
        }
    }
}

/// An organization. The realm with the empty subdomain lives at the root domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm {
    pub id: RealmId,
    /// Zulip's `string_id`: lower-case, `""` for the root realm.
    pub subdomain: String,
    pub name: String,
    /// Plain text (rendered to HTML by the server for `realm_description`).
    pub description: String,
    pub deactivated: bool,
    pub methods: AuthMethods,
    /// Create an account on the first successful directory login of someone who has none.
    pub ldap_auto_create: bool,
    pub created_at: Timestamp,
}

/// Zulip's role values, kept numerically identical so they mean the same on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Administrator,
    Moderator,
    Member,
    Guest,
}

impl Role {
    pub fn as_i32(self) -> i32 {
        match self {
            Role::Owner => 100,
            Role::Administrator => 200,
            Role::Moderator => 300,
            Role::Member => 400,
            Role::Guest => 600,
        }
    }

    pub fn from_i32(value: i32) -> Option<Role> {
        Some(match value {
            100 => Role::Owner,
            200 => Role::Administrator,
            300 => Role::Moderator,
            400 => Role::Member,
            600 => Role::Guest,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Administrator => "admin",
            Role::Moderator => "moderator",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Some(match name {
            "owner" => Role::Owner,
            "admin" | "administrator" => Role::Administrator,
            "moderator" => Role::Moderator,
            "member" => Role::Member,
            "guest" => Role::Guest,
            _ => return None,
        })
    }

    /// Owners and administrators administer the realm.
    pub fn is_realm_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Administrator)
    }
}

/// Zulip's bot types, with Zulip's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BotType {
    Generic,
    IncomingWebhook,
    OutgoingWebhook,
    Embedded,
}

impl BotType {
    pub fn as_i32(self) -> i32 {
        match self {
            BotType::Generic => 1,
            BotType::IncomingWebhook => 2,
            BotType::OutgoingWebhook => 3,
            BotType::Embedded => 4,
        }
    }

    pub fn from_i32(value: i32) -> Option<BotType> {
        Some(match value {
            1 => BotType::Generic,
            2 => BotType::IncomingWebhook,
            3 => BotType::OutgoingWebhook,
            4 => BotType::Embedded,
            _ => return None,
        })
    }
}

/// A person or a bot in one realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub realm_id: RealmId,
    /// The real address, used for every authentication (Zulip's `delivery_email`).
    pub delivery_email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    /// `Some` for bots.
    pub bot_type: Option<BotType>,
    pub bot_owner_id: Option<UserId>,
    /// An administrator asked for a reset; the password is refused until it is changed.
    pub password_reset_needed: bool,
    /// The directory's immutable id for this person (LDAP `entryUUID`, AD `objectGUID`), so a
    /// renamed person stays the same account.
    pub external_id: Option<String>,
    /// Who deactivated the account and why, while it is deactivated (`None` when active, or
    /// deactivated before this was recorded). Boxed: most accounts are active, and the key
    /// cache keeps 100,000 of these (a box is 8 bytes, the record inline 48).
    pub deactivation: Option<Box<Deactivation>>,
    pub created_at: Timestamp,
}

impl User {
    pub fn is_bot(&self) -> bool {
        self.bot_type.is_some()
    }

    /// Whether the account was deactivated through `source` (`"ldap-sync"`, `"cli"`, ...).
    pub fn deactivated_by(&self, source: &str) -> bool {
        !self.is_active && self.deactivation.as_ref().is_some_and(|d| d.by == source)
    }
}

/// The record of a deactivation: the path it came through (an audit actor's source: `cli`,
/// `api`, `ldap-sync`, ...) and the reason given, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deactivation {
    pub by: String,
    pub reason: Option<String>,
}

impl std::fmt::Display for Deactivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            Some(r) => write!(f, "by {}: {r}", self.by),
            None => write!(f, "by {}", self.by),
        }
    }
}

/// A stored password hash. Not the password, but still nothing to print.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// What a password backend needs to check a login: the account and its hash, if it has one.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub user: User,
    /// `None` for accounts with no usable password (bots, directory-provisioned accounts).
    pub password_hash: Option<PasswordHash>,
}

/// Normalises an address the way account lookup compares them: surrounding whitespace trimmed,
/// lower-cased (Zulip's delivery emails are unique per realm case-insensitively).
pub fn email_lookup_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The form of a login name that rate limits count under: trimmed, NFKC-normalised and
/// case-folded, so that the spellings a directory's matching rules treat as one name
/// (`ｈａｍｌｅｔ`, `𝐡𝐚𝐦𝐥𝐞𝐭`, `HAMLET`) share one budget. Also used for directory DNs.
pub fn fold_login_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // Lower-casing can undo NFKC (and NFKC can make new capitals), so normalise on both sides.
    let once: String = name.trim().nfkc().collect::<String>().to_lowercase();
    once.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deactivation_says_who_and_why() {
        let mut u = User {
            id: UserId(1),
            realm_id: RealmId(1),
            delivery_email: "a@example.org".into(),
            full_name: "A".into(),
            role: Role::Member,
            is_active: false,
            bot_type: None,
            bot_owner_id: None,
            password_reset_needed: false,
            external_id: None,
            deactivation: Some(Box::new(Deactivation {
                by: "ldap-sync".into(),
                reason: Some("in deny group".into()),
            })),
            created_at: Timestamp(0),
        };
        assert!(u.deactivated_by("ldap-sync"));
        assert!(!u.deactivated_by("cli"));
        assert_eq!(
            u.deactivation.as_ref().map(ToString::to_string).as_deref(),
            Some("by ldap-sync: in deny group")
        );
        u.deactivation = Some(Box::new(Deactivation {
            by: "cli".into(),
            reason: None,
        }));
        assert_eq!(
            u.deactivation.as_ref().map(ToString::to_string).as_deref(),
            Some("by cli")
        );
        u.is_active = true;
        assert!(
            !u.deactivated_by("cli"),
            "an active account is nobody's deactivation"
        );
    }

    #[test]
    fn roles_round_trip() {
        for r in [
            Role::Owner,
            Role::Administrator,
            Role::Moderator,
            Role::Member,
            Role::Guest,
        ] {
            assert_eq!(Role::from_i32(r.as_i32()), Some(r));
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
        assert_eq!(Role::from_i32(7), None);
    }

    #[test]
    fn login_names_fold_width_style_and_case() {
        for spelling in [
            "hamlet",
            "HAMLET",
            " Hamlet ",
            "ｈａｍｌｅｔ",
            "𝐡𝐚𝐦𝐥𝐞𝐭",
            "hａmlet",
            "ＨＡＭＬＥＴ",
        ] {
            assert_eq!(fold_login_name(spelling), "hamlet", "{spelling}");
        }
        assert_eq!(
            fold_login_name("Uid=Ｈamlet,OU=People"),
            "uid=hamlet,ou=people"
        );
    }

    #[test]
    fn lookup_key_trims_and_folds() {
        assert_eq!(
            email_lookup_key("  Hamlet@Zulip.COM \n"),
            "hamlet@zulip.com"
        );
    }
}
