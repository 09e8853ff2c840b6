//! The words of the reset mails, after Zulip's `password_reset` templates: the link for an
//! account that can reset, and (with `reset.notify_unknown`) the notice for an address without
//! one in the realm, naming the organizations where it does have an active account.

use std::time::Duration;

use crate::mail::Mail;

/// The subject of every reset mail.
fn subject(realm_name: &str) -> String {
    format!("Password reset request for {realm_name}")
}

const IGNORE: &str = "If you do not recognize this activity, you can safely ignore this email.";

/// The mail with the reset link.
pub fn reset_link(
    email: &str,
    realm_name: &str,
    realm_url: &str,
    link: &str,
    lifetime: Duration,
) -> Mail {
    let lifetime = humantime::format_duration(lifetime);
    Mail {
        to: email.to_owned(),
        subject: subject(realm_name),
        text: format!(
            "Somebody (possibly you) requested a new password for the account {email} on \
             {realm_url}.\n\n\
             Click the link below to reset your password.\n\n\
             {link}\n\n\
             The link works once, for {lifetime}.\n\n\
             {IGNORE}\n"
        ),
    }
}

/// Why an address has no account to reset in the realm.
pub enum NoAccount {
    Unknown,
    Deactivated,
}

/// The notice for an address without a resettable account in the realm.
pub fn notice(
    email: &str,
    realm_name: &str,
    realm_url: &str,
    why: NoAccount,
    elsewhere: &[String],
) -> Mail {
    let mut text = format!(
        "Somebody (possibly you) requested a new password for the account {email} on \
         {realm_url}.\n\n"
    );
    text.push_str(&match why {
        NoAccount::Unknown => "You do not have an account in that organization.\n\n".to_owned(),
        NoAccount::Deactivated => format!(
            "You previously had an account on {realm_url}, but it has been deactivated. You can \
             contact an organization administrator to reactivate your account.\n\n"
        ),
    });
    if !elsewhere.is_empty() {
        text.push_str("You do have active accounts in the following organization(s).\n");
        for url in elsewhere {
            text.push_str(&format!("  {url}\n"));
        }
        text.push('\n');
    }
    text.push_str(IGNORE);
    text.push('\n');
    Mail {
        to: email.to_owned(),
        subject: subject(realm_name),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_mail_names_the_account_and_the_lifetime() {
        let m = reset_link(
            "hamlet@zulip.com",
            "Zulip Dev",
            "http://zulip.example.test",
            "http://zulip.example.test/accounts/password/reset/abc/",
            Duration::from_secs(3600),
        );
        assert_eq!(m.subject, "Password reset request for Zulip Dev");
        assert!(
            m.text
                .contains("account hamlet@zulip.com on http://zulip.example.test")
        );
        assert!(
            m.text
                .contains("\nhttp://zulip.example.test/accounts/password/reset/abc/\n")
        );
        assert!(m.text.contains("for 1h."), "{}", m.text);
    }

    #[test]
    fn the_notice_lists_other_organizations() {
        let m = notice(
            "x@lear.com",
            "Zulip Dev",
            "http://zulip.example.test",
            NoAccount::Unknown,
            &["http://lear.example.test".to_owned()],
        );
        assert!(
            m.text
                .contains("You do not have an account in that organization.")
        );
        assert!(m.text.contains("  http://lear.example.test\n"));
        let m = notice("x@lear.com", "Z", "http://z", NoAccount::Deactivated, &[]);
        assert!(m.text.contains("has been deactivated"));
        assert!(!m.text.contains("following organization"));
    }
}
