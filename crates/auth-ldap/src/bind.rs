//! What one bind as a person said: a credential failure (result 49, AD `52e`/`525`), a
//! directory refusal (AD sub-codes, OpenLDAP's password-policy response control), or a protocol
//! error.

use auth_core::DirectoryRefusal;
use ldap3::LdapResult;

use crate::conn::{DirError, redact_diagnostic};

/// OpenLDAP's password-policy request/response control.
pub(crate) const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// Reads the Active Directory sub-code from a bind diagnostic (`… data 52e, …`).
pub fn ad_subcode(text: &str) -> Option<&str> {
    let idx = text.find("data ")?;
    let code = text[idx + 5..].split([',', ' ']).next()?;
    (!code.is_empty() && code.len() <= 4 && code.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(code)
}

/// Maps a failed simple bind to a credential failure or a directory refusal.
pub fn classify_bind(res: &LdapResult) -> Result<Option<DirectoryRefusal>, DirError> {
    if let Some(refusal) = ppolicy_error(res) {
        return Ok(Some(refusal));
    }
    match res.rc {
        49 => Ok(
            match ad_subcode(&res.text)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("530") | Some("531") => Some(DirectoryRefusal::NotPermittedNow),
                Some("532") => Some(DirectoryRefusal::PasswordExpired),
                Some("533") => Some(DirectoryRefusal::AccountDisabled),
                Some("701") => Some(DirectoryRefusal::AccountExpired),
                Some("773") => Some(DirectoryRefusal::PasswordMustChange),
                Some("775") => {
                    // Locked: AD says so whatever the password, so saying it to the client
                    // would reveal the account before the password is proven.
                    tracing::info!("the directory reports the account locked (AD 775)");
                    None
                }
                // 52e (bad password), 525 (no such user) and plain OpenLDAP 49.
                _ => None,
            },
        ),
        rc => Err(DirError::Protocol(format!(
            "bind answered result {rc} ({})",
            redact_diagnostic(&res.text)
        ))),
    }
}

/// The error of an OpenLDAP password-policy response control, when there is one:
/// `SEQUENCE { warning [0] … OPTIONAL, error [1] ENUMERATED OPTIONAL }`. `accountLocked` is
/// sent before the password is checked, so it is a credential failure to the client (and a
/// log line); the others come with a right password.
pub fn ppolicy_error(res: &LdapResult) -> Option<DirectoryRefusal> {
    match ppolicy_code(res)? {
        0 => Some(DirectoryRefusal::PasswordExpired),
        1 => {
            tracing::info!("the directory reports the account locked (ppolicy)");
            None
        }
        2 => Some(DirectoryRefusal::PasswordMustChange),
        _ => None,
    }
}

fn ppolicy_code(res: &LdapResult) -> Option<u64> {
    use ldap3::asn1::{PL, TagClass, parse_tag, parse_uint};
    let ctrl = res.ctrls.iter().find(|c| c.1.ctype == PPOLICY_OID)?;
    let value = ctrl.1.val.as_ref()?;
    let (_, seq) = parse_tag(value).ok()?;
    let PL::C(items) = seq.payload else {
        return None;
    };
    let error = items
        .into_iter()
        .find(|t| t.class == TagClass::Context && t.id == 1)?;
    let PL::P(bytes) = error.payload else {
        return None;
    };
    let (_, code) = parse_uint(&bytes).ok()?;
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::controls::RawControl;

    #[test]
    fn ad_subcodes_are_read() {
        let text = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563";
        assert_eq!(ad_subcode(text), Some("775"));
        assert_eq!(ad_subcode("no code here"), None);
        let res = |text: &str| LdapResult {
            rc: 49,
            matched: String::new(),
            text: text.into(),
            refs: vec![],
            ctrls: vec![],
        };
        assert_eq!(classify_bind(&res("x, data 52e, v1")), Ok(None));
        assert_eq!(classify_bind(&res("")), Ok(None));
        assert_eq!(
            classify_bind(&res("x, data 533, v1")),
            Ok(Some(DirectoryRefusal::AccountDisabled))
        );
        assert_eq!(
            classify_bind(&res("x, data 773, v1")),
            Ok(Some(DirectoryRefusal::PasswordMustChange))
        );
        assert!(classify_bind(&LdapResult { rc: 52, ..res("") }).is_err());
    }

    #[test]
    fn ppolicy_response_is_parsed() {
        use ldap3::controls::Control;
        // SEQUENCE { [1] ENUMERATED accountLocked(1) }
        let value = vec![0x30, 0x03, 0x81, 0x01, 0x01];
        let res = LdapResult {
            rc: 49,
            matched: String::new(),
            text: String::new(),
            refs: vec![],
            ctrls: vec![Control(
                None,
                RawControl {
                    ctype: PPOLICY_OID.into(),
                    crit: false,
                    val: Some(value),
                },
            )],
        };
        // Locked is reported before the password is checked: a plain credential failure.
        assert_eq!(ppolicy_code(&res), Some(1));
        assert_eq!(ppolicy_error(&res), None);
        assert_eq!(classify_bind(&res), Ok(None));
        let mut expired = res.clone();
        expired.ctrls[0].1.val = Some(vec![0x30, 0x03, 0x81, 0x01, 0x00]);
        assert_eq!(
            ppolicy_error(&expired),
            Some(DirectoryRefusal::PasswordExpired)
        );
        // A warning only (time before expiration): no error.
        let warning = vec![0x30, 0x05, 0xa0, 0x03, 0x80, 0x01, 0x05];
        let mut res2 = res.clone();
        res2.ctrls[0].1.val = Some(warning);
        assert_eq!(ppolicy_error(&res2), None);
    }
}
