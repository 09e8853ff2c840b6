//! A private OpenLDAP server for integration tests.
//!
//! [`Slapd::start`] builds a throwaway directory in a temporary folder — `slapd.conf`, an mdb
//! database seeded from `tests/ldap/seed.ldif.in` and `tests/ldap/groups.ldif.in`, a test CA with a
//! server certificate for `127.0.0.1`/`localhost`, and a second, unrelated CA for wrong-CA tests —
//! and runs `slapd` on two free loopback ports (plain LDAP with StartTLS, and LDAPS). The process is
//! killed when the [`Slapd`] is dropped, and a small watchdog kills it too should the test process
//! die without unwinding, so no slapd outlives the tests.
//!
//! The directory is deliberately hostile in one respect: `allow bind_anon_dn` makes a bind with a
//! DN and an empty password succeed as anonymous (RFC 4513 §5.1.2), which is what the
//! empty-password guard must be tested against.
//!
//! Access control (the rootdn [`ADMIN_DN`] bypasses it):
//! - `userPassword`: `by self write`, `by anonymous auth`, `by * none` — users bind with their own
//!   passwords; nobody but the rootdn reads a password.
//! - everything else: the service account [`SERVICE_DN`] reads the whole tree (search-then-bind),
//!   a user reads its own entry and may search (but not read) the rest, anonymous sees nothing
//!   except the root DSE and the schema.
//! - the memberof overlay is loaded when `/usr/lib/ldap/memberof.la` exists (Debian's slapd has
//!   it): people in the `groupOfNames` groups carry `memberOf` (operational: request it by name).
//!
//! Blocking: call [`Slapd::start`] and the helpers from a plain `#[test]` or via
//! `tokio::task::spawn_blocking`; they shell out and sleep (start takes ~0.1–0.2 s).
//!
//! Needs the `slapd`, `slapadd`, `ldap-utils` and `openssl` binaries (`tests/ldap/install-deps.sh`
//! installs them on Debian). Environment knobs:
//! - `LATCHKEY_SLAPD_DEBUG`: slapd debug level (`-d`), default `0`; e.g. `stats` logs every
//!   operation to `slapd.log` in the fixture's directory.
//! - `LATCHKEY_SLAPD_KEEP=1`: keep the temporary directory after the fixture is dropped (its path
//!   is printed to stderr).
//!
//! Longer than 600 lines on purpose: one fixture whose start-up, TLS material, seeding and
//! process control (stop, restart, pause) share private state that a split would have to expose.

use crate::process::{NotReady, ServerProcess, run_with_timeout};
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Suffix of the test directory.
pub const BASE_DN: &str = "dc=example,dc=org";
/// The rootdn (bypasses all access control).
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
/// The rootdn's password (`rootpw`).
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// Service (search) account: may read every entry and attribute except `userPassword`.
pub const SERVICE_DN: &str = "cn=latchkey,ou=services,dc=example,dc=org";
/// Password of [`SERVICE_DN`].
pub const SERVICE_PASSWORD: &str = "svc-latchkey-secret";
/// Container of the seeded people.
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
/// Container of the seeded groups.
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=org";
/// Container of the service account.
pub const SERVICES_DN: &str = "ou=services,dc=example,dc=org";

/// `groupOfNames` with hamlet, aaron and jose.
pub const STAFF_GROUP_DN: &str = "cn=staff,ou=groups,dc=example,dc=org";
/// `groupOfNames` with cordelia.
pub const BANNED_GROUP_DN: &str = "cn=banned,ou=groups,dc=example,dc=org";
/// `groupOfUniqueNames` with hamlet (`uniqueMember`).
pub const UNIQ_GROUP_DN: &str = "cn=uniq,ou=groups,dc=example,dc=org";
/// `posixGroup` (`gidNumber: 10000`) with `memberUid: aaron`.
pub const POSIX_GROUP_DN: &str = "cn=posix,ou=groups,dc=example,dc=org";
/// `groupOfNames` whose only member is the user with filter metacharacters in its uid.
pub const META_GROUP_DN: &str = "cn=meta,ou=groups,dc=example,dc=org";

/// The attribute and value that mark a seeded user as deactivated (`employeeType: disabled`);
/// the other people have `employeeType: active`.
pub const DISABLED_ATTR: (&str, &str) = ("employeeType", "disabled");
/// The attribute usable as "department" (`departmentNumber`; hamlet, aaron, jose: `zulip`,
/// cordelia: `sales`).
pub const DEPARTMENT_ATTR: &str = "departmentNumber";

/// The default password policy of [`Slapd::start_with_ppolicy`].
pub const PPOLICY_DN: &str = "cn=default,ou=policies,dc=example,dc=org";

/// Failed binds that lock an account under that policy.
pub const PPOLICY_MAX_FAILURE: u32 = 3;

const SEED_TEMPLATE: &str = include_str!("../ldap/seed.ldif.in");
const GROUPS_TEMPLATE: &str = include_str!("../ldap/groups.ldif.in");

const SCHEMA_DIR: &str = "/etc/ldap/schema";
const MODULE_DIR: &str = "/usr/lib/ldap";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 5;

/// A person in the seed directory (all of them are `inetOrgPerson` + `posixAccount` under
/// [`PEOPLE_DN`], with `uid` as RDN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedUser {
    /// The `uid` value, as a user would type it at the login prompt.
    pub uid: &'static str,
    /// The entry's DN as slapd returns it (RFC 4514, already escaped).
    pub dn: &'static str,
    /// The plain-text password (stored as is in `userPassword`).
    pub password: &'static str,
    /// `mail`, if the entry has one.
    pub mail: Option<&'static str>,
    /// `cn`.
    pub cn: &'static str,
    /// `givenName`.
    pub given_name: &'static str,
    /// `sn`.
    pub sn: &'static str,
    /// `departmentNumber`, if any.
    pub department: Option<&'static str>,
    /// `employeeType: disabled` (see [`DISABLED_ATTR`]).
    pub disabled: bool,
    /// DNs of the `groupOfNames` groups the user is a `member` of (also its `memberOf` values
    /// when the memberof overlay is loaded, see [`Slapd::has_memberof`]).
    pub groups: &'static [&'static str],
}

/// `uid=hamlet`: cn "King Hamlet", department `zulip`, in staff and uniq.
pub const HAMLET: SeedUser = SeedUser {
    uid: "hamlet",
    dn: "uid=hamlet,ou=people,dc=example,dc=org",
    password: "lpw-hamlet",
    mail: Some("hamlet@zulip.com"),
    cn: "King Hamlet",
    given_name: "King",
    sn: "Hamlet",
    department: Some("zulip"),
    disabled: false,
    groups: &[STAFF_GROUP_DN],
};
/// `uid=aaron`: in staff and (by `memberUid`) posix.
pub const AARON: SeedUser = SeedUser {
    uid: "aaron",
    dn: "uid=aaron,ou=people,dc=example,dc=org",
    password: "lpw-aaron",
    mail: Some("aaron@zulip.com"),
    cn: "Aaron Smith",
    given_name: "Aaron",
    sn: "Smith",
    department: Some("zulip"),
    disabled: false,
    groups: &[STAFF_GROUP_DN],
};
/// `uid=cordelia`: in banned; her cn contains a comma and an apostrophe.
pub const CORDELIA: SeedUser = SeedUser {
    uid: "cordelia",
    dn: "uid=cordelia,ou=people,dc=example,dc=org",
    password: "lpw-cordelia",
    mail: Some("cordelia@zulip.com"),
    cn: "Cordelia, Lear's daughter",
    given_name: "Cordelia",
    sn: "Lear",
    department: Some("sales"),
    disabled: false,
    groups: &[BANNED_GROUP_DN],
};
/// `uid=disabled`: `employeeType: disabled`; the directory still accepts its password.
pub const DISABLED: SeedUser = SeedUser {
    uid: "disabled",
    dn: "uid=disabled,ou=people,dc=example,dc=org",
    password: "lpw-disabled",
    mail: Some("disabled@zulip.com"),
    cn: "Disabled User",
    given_name: "Disabled",
    sn: "User",
    department: None,
    disabled: true,
    groups: &[],
};
/// `uid=jose`: non-ASCII cn, givenName, sn and password (UTF-8); in staff.
pub const JOSE: SeedUser = SeedUser {
    uid: "jose",
    dn: "uid=jose,ou=people,dc=example,dc=org",
    password: "lpw-jos\u{e9}",
    mail: Some("jose@zulip.com"),
    cn: "Jos\u{e9} M\u{fc}ller-\u{d1}\u{fa}\u{f1}ez",
    given_name: "Jos\u{e9}",
    sn: "M\u{fc}ller-\u{d1}\u{fa}\u{f1}ez",
    department: Some("zulip"),
    disabled: false,
    groups: &[STAFF_GROUP_DN],
};
/// uid `star*(paren)\back` (filter metacharacters; the password has them too). Its DN escapes the
/// backslash (`\5C`); as a filter value the uid is `star\2a\28paren\29\5cback`. In meta.
pub const STAR: SeedUser = SeedUser {
    uid: "star*(paren)\\back",
    dn: "uid=star*(paren)\\5Cback,ou=people,dc=example,dc=org",
    password: "lpw-st*r(\\)",
    mail: Some("star@zulip.com"),
    cn: "Star Paren Back",
    given_name: "Star",
    sn: "Back",
    department: None,
    disabled: false,
    groups: &[META_GROUP_DN],
};
/// `uid=nomail`: no `mail` attribute.
pub const NOMAIL: SeedUser = SeedUser {
    uid: "nomail",
    dn: "uid=nomail,ou=people,dc=example,dc=org",
    password: "lpw-nomail",
    mail: None,
    cn: "No Mail",
    given_name: "No",
    sn: "Mail",
    department: None,
    disabled: false,
    groups: &[],
};

/// Every person in the seed directory.
pub const SEED_USERS: &[SeedUser] = &[HAMLET, AARON, CORDELIA, DISABLED, JOSE, STAR, NOMAIL];

/// The seeded person with this `uid`.
pub fn seed_user(uid: &str) -> Option<&'static SeedUser> {
    SEED_USERS.iter().find(|u| u.uid == uid)
}

/// The seed LDIF (people, services, containers; no groups) with the placeholders filled in.
pub fn seed_ldif() -> String {
    render(SEED_TEMPLATE)
}

/// The groups LDIF with the placeholders filled in.
pub fn groups_ldif() -> String {
    render(GROUPS_TEMPLATE)
}

/// The LDIF record (`dn:` line and attributes, comments dropped) of one entry of the seed (people,
/// services, containers or groups), e.g. to re-add a user a test deleted. A re-added entry gets a
/// new `entryUUID`, as in a real directory.
pub fn seed_entry_ldif(dn: &str) -> Option<String> {
    let want = format!("dn: {dn}");
    [seed_ldif(), groups_ldif()].into_iter().find_map(|ldif| {
        ldif_records(&ldif).into_iter().find(|rec| {
            rec.lines()
                .next()
                .is_some_and(|l| l.eq_ignore_ascii_case(&want))
        })
    })
}

fn render(template: &str) -> String {
    let out = template
        .replace("@SERVICE_DN@", SERVICE_DN)
        .replace("@SERVICE_PASSWORD@", SERVICE_PASSWORD)
        .replace("@BASE_DN@", BASE_DN);
    debug_assert!(
        !has_placeholder(&out),
        "unsubstituted placeholder in LDIF template"
    );
    out
}

/// True when `s` contains `@UPPER_CASE@`.
fn has_placeholder(s: &str) -> bool {
    s.split('@')
        .skip(1)
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| !w[0].is_empty() && w[0].bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
}

/// Splits LDIF into records (blank-line separated), dropping comment lines.
fn ldif_records(ldif: &str) -> Vec<String> {
    let mut records = Vec::new();
    let mut cur = String::new();
    for line in ldif.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !cur.is_empty() {
                records.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    if !cur.is_empty() {
        records.push(cur);
    }
    records
}

/// Output of a finished client command.
#[derive(Debug)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    /// The exit code (for ldap-utils, the LDAP result code: 49 = invalidCredentials,
    /// 32 = noSuchObject, -1/255 = can't contact server); `None` when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// A running (or stopped) private slapd. See the module documentation.
pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    ldaps_port: u16,
    process: Option<ServerProcess>,
    memberof: bool,
    /// OpenLDAP's password-policy overlay is loaded ([`Slapd::start_with_ppolicy`]).
    ppolicy: bool,
    startup_time: Duration,
}

impl Slapd {
    /// Builds the directory (config, certificates, seed) and starts slapd; returns once it answers.
    pub fn start() -> Result<Slapd> {
        Self::start_inner(false)
    }

    /// As [`Slapd::start`], with the ppolicy overlay and a default policy: three failed binds
    /// lock an account ([`PPOLICY_MAX_FAILURE`]), and a password set by the administrator must
    /// be changed at the next bind (`pwdMustChange`).
    pub fn start_with_ppolicy() -> Result<Slapd> {
        Self::start_inner(true)
    }

    fn start_inner(ppolicy: bool) -> Result<Slapd> {
        let began = Instant::now();
        let slapd_bin = find_bin("slapd")?;
        let slapadd_bin = find_bin("slapadd")?;
        for tool in [
            "ldapsearch",
            "ldapadd",
            "ldapmodify",
            "ldapdelete",
            "openssl",
        ] {
            find_bin(tool)?;
        }
        let keep =
            std::env::var_os("LATCHKEY_SLAPD_KEEP").is_some_and(|v| v != "0" && !v.is_empty());
        let mut dir = tempfile::Builder::new()
            .prefix("latchkey-slapd-")
            .tempdir()
            .context("creating the slapd temporary directory")?;
        if keep {
            dir.disable_cleanup(true);
            eprintln!("slapd fixture: keeping {}", dir.path().display());
        }
        let memberof = Path::new(MODULE_DIR).join("memberof.la").exists()
            || Path::new(MODULE_DIR).join("memberof.so").exists();

        let mut s = Slapd {
            dir,
            port: 0,
            ldaps_port: 0,
            process: None,
            memberof,
            ppolicy,
            startup_time: Duration::ZERO,
        };
        fs::create_dir(s.data_dir()).context("creating the mdb directory")?;
        s.make_certs()?;
        fs::write(
            s.path("ldap.conf"),
            format!("TLS_CACERT {}\nTLS_REQCERT demand\n", s.ca_file().display()),
        )?;

        // Offline load. The ports are not in slapd.conf, so this can run before they are chosen.
        s.write_config()?;
        fs::write(s.path("seed.ldif"), seed_ldif())?;
        let out = run(
            Command::new(&slapadd_bin)
                .arg("-q")
                .arg("-f")
                .arg(s.path("slapd.conf"))
                .arg("-l")
                .arg(s.path("seed.ldif")),
            None,
            COMMAND_TIMEOUT,
        )?;
        if !out.success() {
            bail!(
                "slapadd failed ({}): {}{}",
                out.status,
                out.stdout,
                out.stderr
            );
        }

        // Free ports can be taken between probing and slapd's bind (other tests run in parallel):
        // on "address in use" try again with fresh ports.
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            let (p1, p2) = free_port_pair()?;
            s.port = p1;
            s.ldaps_port = p2;
            match s.spawn_and_wait(&slapd_bin) {
                Ok(()) => {
                    last_err = None;
                    break;
                }
                Err(e) => {
                    let log = s.log_tail(40);
                    s.kill_process();
                    if log.contains("Address already in use") || log.contains("errno=98") {
                        last_err = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(e) = last_err {
            return Err(e.context(format!(
                "slapd could not bind free ports after {PORT_ATTEMPTS} attempts"
            )));
        }

        // Groups go in online so that the memberof overlay sets memberOf on the people.
        s.add_ldif(&groups_ldif())
            .context("adding the seed groups")?;
        if ppolicy {
            s.add_ldif(&format!(
                "dn: ou=policies,{BASE_DN}\nobjectClass: organizationalUnit\nou: policies\n\n\
                 dn: {PPOLICY_DN}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\n\
                 pwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: {PPOLICY_MAX_FAILURE}\n\
                 pwdLockoutDuration: 300\npwdMustChange: TRUE\n"
            ))
            .context("adding the password policy")?;
        }
        s.startup_time = began.elapsed();
        Ok(s)
    }

    /// `ldap://127.0.0.1:PORT` (plain; StartTLS available).
    pub fn uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }
    /// `ldaps://127.0.0.1:PORT2`. Use 127.0.0.1, as here: the certificate also names `localhost`,
    /// but libldap's own tools (not ldap3) swap `localhost` for the reverse lookup of the peer
    /// address (`vm` on these machines) before checking the name, and then fail.
    pub fn ldaps_uri(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }
    /// Port of [`Self::uri`].
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Port of [`Self::ldaps_uri`].
    pub fn ldaps_port(&self) -> u16 {
        self.ldaps_port
    }
    /// PEM file of the CA that signed the server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.path("ca.crt")
    }
    /// PEM file of an unrelated CA (did not sign the server certificate).
    pub fn wrong_ca_file(&self) -> PathBuf {
        self.path("wrong-ca.crt")
    }
    /// Server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`) and key, PEM.
    pub fn server_cert_file(&self) -> PathBuf {
        self.path("server.crt")
    }
    pub fn server_key_file(&self) -> PathBuf {
        self.path("server.key")
    }
    /// The fixture's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// slapd's stdout/stderr.
    pub fn log_file(&self) -> PathBuf {
        self.path("slapd.log")
    }
    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }
    pub fn admin_dn(&self) -> &'static str {
        ADMIN_DN
    }
    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }
    pub fn service_dn(&self) -> &'static str {
        SERVICE_DN
    }
    pub fn service_password(&self) -> &'static str {
        SERVICE_PASSWORD
    }
    pub fn people_dn(&self) -> &'static str {
        PEOPLE_DN
    }
    pub fn groups_dn(&self) -> &'static str {
        GROUPS_DN
    }
    /// Whether the memberof overlay is loaded (people in `groupOfNames` groups then carry
    /// `memberOf`, an operational attribute: ask for it by name or with `+`).
    pub fn has_memberof(&self) -> bool {
        self.memberof
    }
    /// How long [`Slapd::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }
    /// slapd's process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::id)
    }
    /// Whether the slapd process is alive (it may be paused).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ServerProcess::is_running)
    }

    /// Kills slapd (SIGKILL) and waits for it; the data stays for [`Self::restart`]. Connections
    /// are reset and the ports refuse connections afterwards. No-op when already stopped.
    pub fn stop(&mut self) {
        self.kill_process();
    }

    /// Starts slapd again on the same ports with the same data (stopping it first if running);
    /// returns once it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.kill_process();
        let slapd_bin = find_bin("slapd")?;
        self.spawn_and_wait(&slapd_bin)
            .inspect_err(|_| self.kill_process())
    }

    /// Freezes slapd (SIGSTOP): TCP connections still complete (the kernel accepts into the
    /// backlog) but nothing is answered — for operation-timeout tests. Undo with [`Self::resume`].
    pub fn pause(&self) -> Result<()> {
        self.signal("STOP")
    }

    /// Undoes [`Self::pause`] (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal("CONT")
    }

    /// `ldapadd` of `ldif` as the rootdn.
    pub fn add_ldif(&self, ldif: &str) -> Result<()> {
        self.admin_tool("ldapadd", &[], Some(ldif))
    }

    /// `ldapmodify` of `ldif` (records with `changetype:`; default is modify) as the rootdn.
    pub fn modify(&self, ldif: &str) -> Result<()> {
        self.admin_tool("ldapmodify", &[], Some(ldif))
    }

    /// `ldapdelete` of one entry (no subtree) as the rootdn.
    pub fn delete_dn(&self, dn: &str) -> Result<()> {
        self.admin_tool("ldapdelete", &[dn], None)
    }

    /// Renames an entry in place (`ldapmodrdn -r`): e.g. `rename("uid=aaron,...", "uid=aaron2")`
    /// keeps its `entryUUID`.
    pub fn rename(&self, dn: &str, new_rdn: &str) -> Result<()> {
        self.admin_tool("ldapmodrdn", &["-r", dn, new_rdn], None)
    }

    /// Moves an entry under another parent (`ldapmodrdn -r -s`), e.g. to a `ou=disabled`
    /// branch; it keeps its `entryUUID`.
    pub fn move_entry(&self, dn: &str, new_rdn: &str, new_parent: &str) -> Result<()> {
        self.admin_tool("ldapmodrdn", &["-r", "-s", new_parent, dn, new_rdn], None)
    }

    /// Sets an entry's `userPassword` (plain text) as the rootdn.
    pub fn set_password(&self, dn: &str, password: &str) -> Result<()> {
        self.modify(&format!(
            "dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword:: {}\n",
            STANDARD.encode(password)
        ))
    }

    /// Deletes a seeded entry, if present, and adds it back from the seed (new `entryUUID`).
    pub fn restore_seed_entry(&self, dn: &str) -> Result<()> {
        let ldif = seed_entry_ldif(dn).ok_or_else(|| anyhow!("{dn} is not in the seed"))?;
        let out = self.admin_cmd("ldapdelete", &[dn], None)?;
        if !out.success() && out.code() != Some(32) {
            bail!(
                "ldapdelete {dn} failed ({}): {}",
                out.status,
                out.stderr.trim()
            );
        }
        self.add_ldif(&ldif)
    }

    /// `ldapsearch -LLL` as the rootdn; returns the LDIF text (long lines unwrapped, base64 for
    /// non-ASCII values as ldapsearch prints them).
    pub fn search(&self, base: &str, scope: &str, filter: &str, attrs: &[&str]) -> Result<String> {
        let mut args = vec![
            "-LLL",
            "-o",
            "ldif_wrap=no",
            "-b",
            base,
            "-s",
            scope,
            filter,
        ];
        args.extend_from_slice(attrs);
        let out = self.admin_cmd("ldapsearch", &args, None)?;
        if !out.success() {
            bail!(
                "ldapsearch -b {base} {filter} failed ({}): {}",
                out.status,
                out.stderr.trim()
            );
        }
        Ok(out.stdout)
    }

    /// The values of one attribute of one entry (read as the rootdn, so operational and
    /// `userPassword` too); base64 values are decoded. Empty if absent. Errors if no such entry.
    pub fn attr_values(&self, dn: &str, attr: &str) -> Result<Vec<String>> {
        let ldif = self.search(dn, "base", "(objectClass=*)", &[attr])?;
        if !ldif.lines().any(|l| l.starts_with("dn:")) {
            bail!("no entry {dn}");
        }
        Ok(parse_attr(&ldif, attr))
    }

    /// The entry's `entryUUID`.
    pub fn entry_uuid(&self, dn: &str) -> Result<String> {
        self.attr_values(dn, "entryUUID")?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("{dn} has no entryUUID"))
    }

    /// A `Command` for an ldap-utils client that uses this fixture's CA (`TLS_REQCERT demand`)
    /// and ignores `~/.ldaprc`; `LDAPTLS_CACERT` in its environment still overrides the CA.
    pub fn client_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(find_bin(program).unwrap_or_else(|_| PathBuf::from(program)));
        cmd.env("LDAPCONF", self.path("ldap.conf"))
            .env("LDAPRC", self.path("no-ldaprc"))
            .env_remove("LDAPTLS_CACERT")
            .env_remove("LDAPTLS_CACERTDIR")
            .env_remove("LDAPTLS_REQCERT")
            .env_remove("LDAPURI")
            .env_remove("LDAPBASE")
            .env_remove("LDAPBINDDN");
        cmd
    }

    /// Runs `cmd` (e.g. from [`Self::client_command`]) with a timeout, feeding `stdin`.
    pub fn run(&self, cmd: &mut Command, stdin: Option<&str>) -> Result<CmdOutput> {
        run(cmd, stdin, COMMAND_TIMEOUT)
    }

    /// Last `n` lines of slapd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    // ----- internals -----

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    fn admin_cmd(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<CmdOutput> {
        let mut cmd = self.client_command(program);
        cmd.args([
            "-x",
            "-H",
            &self.uri(),
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PASSWORD,
            "-o",
            "nettimeout=5",
        ])
        .args(args);
        run(&mut cmd, stdin, COMMAND_TIMEOUT)
    }

    fn admin_tool(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<()> {
        let out = self.admin_cmd(program, args, stdin)?;
        if !out.success() {
            bail!(
                "{program} {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                out.stdout.trim(),
                out.stderr.trim()
            );
        }
        Ok(())
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let pid = self.pid().ok_or_else(|| anyhow!("slapd is not running"))?;
        let out = run(
            Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string()),
            None,
            COMMAND_TIMEOUT,
        )?;
        if !out.success() {
            bail!("kill -{sig} {pid} failed: {}", out.stderr.trim());
        }
        Ok(())
    }

    fn make_certs(&self) -> Result<()> {
        fs::write(self.path("openssl.cnf"), OPENSSL_CNF)?;
        let cnf = self.path("openssl.cnf");
        let openssl = find_bin("openssl")?;
        let dir = self.dir.path();
        let ossl = |args: &[&str]| -> Result<()> {
            let mut cmd = Command::new(&openssl);
            cmd.current_dir(dir).args(args).env("OPENSSL_CONF", &cnf);
            let out = run(&mut cmd, None, COMMAND_TIMEOUT)?;
            if !out.success() {
                bail!(
                    "openssl {} failed ({}): {}",
                    args.join(" "),
                    out.status,
                    out.stderr.trim()
                );
            }
            Ok(())
        };
        let cnf_s = cnf.to_str().ok_or_else(|| anyhow!("non-UTF-8 temp path"))?;
        for (name, cn) in [
            ("ca", "Latchkey Test CA"),
            ("wrong-ca", "Latchkey Unrelated Test CA"),
        ] {
            let subj = format!("/O=Latchkey tests/CN={cn}");
            let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
            ossl(&[
                "req",
                "-x509",
                "-new",
                "-config",
                cnf_s,
                "-extensions",
                "v3_ca",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &crt,
                "-days",
                "3650",
                "-subj",
                &subj,
                "-set_serial",
                &random_serial(),
            ])?;
        }
        ossl(&[
            "req",
            "-new",
            "-config",
            cnf_s,
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/O=Latchkey tests/CN=127.0.0.1",
        ])?;
        ossl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &random_serial(),
            "-days",
            "3650",
            "-sha256",
            "-extfile",
            cnf_s,
            "-extensions",
            "v3_server",
            "-out",
            "server.crt",
        ])?;
        Ok(())
    }

    fn write_config(&self) -> Result<()> {
        let d = self.dir.path().display();
        let mut c = String::new();
        for schema in ["core", "cosine", "inetorgperson", "nis"] {
            writeln!(c, "include {SCHEMA_DIR}/{schema}.schema")?;
        }
        writeln!(c, "modulepath {MODULE_DIR}")?;
        writeln!(c, "moduleload back_mdb")?;
        if self.memberof {
            writeln!(c, "moduleload memberof")?;
        }
        if self.ppolicy {
            writeln!(c, "moduleload ppolicy")?;
        }
        write!(
            c,
            r#"pidfile {d}/slapd.pid
argsfile {d}/slapd.args
# Hostile on purpose: a bind with a DN and an empty password succeeds as anonymous.
allow bind_anon_dn
TLSCACertificateFile {d}/ca.crt
TLSCertificateFile {d}/server.crt
TLSCertificateKeyFile {d}/server.key
TLSVerifyClient never

database mdb
maxsize 67108864
directory {d}/data
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
index objectClass,entryUUID eq
index uid,mail,cn,member,uniqueMember,memberUid eq

access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{SERVICE_DN}" read
    by self read
    by users search
    by * none
"#
        )?;
        if self.memberof {
            writeln!(c, "\noverlay memberof")?;
        }
        if self.ppolicy {
            writeln!(
                c,
                "\noverlay ppolicy\nppolicy_default \"{PPOLICY_DN}\"\nppolicy_use_lockout"
            )?;
        }
        fs::write(self.path("slapd.conf"), c).context("writing slapd.conf")
    }

    fn spawn_and_wait(&mut self, slapd_bin: &Path) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .context("opening slapd.log")?;
        let debug = std::env::var("LATCHKEY_SLAPD_DEBUG").unwrap_or_else(|_| "0".into());
        let urls = format!("{}/ {}/", self.uri(), self.ldaps_uri());
        let _ = writeln!(&log, "=== latchkey fixture: starting slapd -h \"{urls}\"");
        let mut process = ServerProcess::spawn(
            Command::new(slapd_bin)
                .arg("-d")
                .arg(&debug)
                .arg("-f")
                .arg(self.path("slapd.conf"))
                .arg("-h")
                .arg(&urls)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log),
            "slapd",
        )?;

        let ready = process.wait_ready(
            Instant::now() + START_TIMEOUT,
            Duration::from_millis(100),
            || {
                let out = self.admin_cmd(
                    "ldapsearch",
                    &["-b", BASE_DN, "-s", "base", "-LLL", "1.1"],
                    None,
                )?;
                if out.success() {
                    return Ok(());
                }
                Err(anyhow!(
                    "last ldapsearch: {}: {}",
                    out.status,
                    out.stderr.trim()
                ))
            },
        );
        match ready {
            Ok(()) => {
                self.process = Some(process);
                Ok(())
            }
            Err(NotReady::Exited(status)) => bail!(
                "slapd exited during startup ({status}); log tail ({}):\n{}",
                self.log_file().display(),
                self.log_tail(30)
            ),
            Err(NotReady::TimedOut(e)) => bail!(
                "slapd did not answer within {START_TIMEOUT:?} ({e}); log tail ({}):\n{}",
                self.log_file().display(),
                self.log_tail(30)
            ),
        }
    }

    fn kill_process(&mut self) {
        self.process = None;
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill_process();
    }
}

impl std::fmt::Debug for Slapd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slapd")
            .field("uri", &self.uri())
            .field("ldaps_uri", &self.ldaps_uri())
            .field("dir", &self.dir.path())
            .field("pid", &self.pid())
            .finish()
    }
}

const OPENSSL_CNF: &str = r#"# Written by tests/src/slapd.rs.
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
"#;

fn random_serial() -> String {
    // Positive, non-zero, 63 bits.
    let n: u64 = rand::random::<u64>() >> 1 | 1;
    format!("0x{n:016x}")
}

/// Two distinct free ports on 127.0.0.1 (both probed at once, then released).
fn free_port_pair() -> Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// Finds a binary on PATH or in the sbin directories (slapd lives in /usr/sbin, often not on a
/// non-root PATH).
fn find_bin(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for dir in dirs {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("`{name}` not found; run tests/ldap/install-deps.sh (needs slapd, ldap-utils, openssl)")
}

/// Runs a command to completion with a timeout, capturing stdout and stderr.
fn run(cmd: &mut Command, stdin: Option<&str>, timeout: Duration) -> Result<CmdOutput> {
    let out = run_with_timeout(cmd, stdin, timeout)?;
    Ok(CmdOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Values of `attr` in LDIF (unwrapped, as from `-o ldif_wrap=no`), base64 values decoded.
fn parse_attr(ldif: &str, attr: &str) -> Vec<String> {
    let mut vals = Vec::new();
    for line in ldif.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if !name.eq_ignore_ascii_case(attr) {
            continue;
        }
        if let Some(b64) = rest.strip_prefix(':') {
            let bytes = STANDARD.decode(b64.trim()).unwrap_or_default();
            vals.push(String::from_utf8_lossy(&bytes).into_owned());
        } else {
            vals.push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
        }
    }
    vals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whoami(s: &Slapd, uri: &str, dn: &str, pw: &str, extra: &[&str]) -> CmdOutput {
        let mut cmd = s.client_command("ldapwhoami");
        cmd.args(["-x", "-H", uri, "-o", "nettimeout=5", "-D", dn, "-w", pw])
            .args(extra);
        s.run(&mut cmd, None).expect("running ldapwhoami")
    }

    fn user_search(s: &Slapd, dn: &str, pw: &str, filter: &str, attrs: &[&str]) -> CmdOutput {
        let mut cmd = s.client_command("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-o",
            "ldif_wrap=no",
            "-H",
            &s.uri(),
            "-D",
            dn,
            "-w",
            pw,
        ])
        .args(["-b", BASE_DN, filter])
        .args(attrs);
        s.run(&mut cmd, None).expect("running ldapsearch")
    }

    #[test]
    fn helpers() {
        assert!(has_placeholder("x @BASE_DN@ y"));
        assert!(!has_placeholder("mail: hamlet@zulip.com\nmail: x@y.org"));
        assert!(!has_placeholder(&seed_ldif()));
        assert!(!has_placeholder(&groups_ldif()));
        let rec = seed_entry_ldif(STAR.dn).unwrap();
        assert!(rec.contains("uid: star*(paren)\\back"), "{rec}");
        assert!(seed_entry_ldif(STAFF_GROUP_DN).is_some());
        assert!(seed_entry_ldif("uid=nobody,ou=people,dc=example,dc=org").is_none());
        assert_eq!(seed_user("jose"), Some(&JOSE));
    }

    #[test]
    fn fixture_end_to_end() {
        let mut s = Slapd::start().expect("starting slapd");
        eprintln!("Slapd::start took {:?} ({s:?})", s.startup_time());

        // Every seeded user binds with its password; the data matches SEED_USERS.
        for u in SEED_USERS {
            let out = whoami(&s, &s.uri(), u.dn, u.password, &[]);
            assert!(out.success(), "bind as {} failed: {out:?}", u.dn);
            assert_eq!(out.stdout.trim(), format!("dn:{}", u.dn));
            assert_eq!(s.attr_values(u.dn, "uid").unwrap(), [u.uid]);
            assert_eq!(s.attr_values(u.dn, "cn").unwrap(), [u.cn]);
            assert_eq!(s.attr_values(u.dn, "givenName").unwrap(), [u.given_name]);
            assert_eq!(s.attr_values(u.dn, "sn").unwrap(), [u.sn]);
            assert_eq!(
                s.attr_values(u.dn, "mail").unwrap(),
                u.mail.into_iter().collect::<Vec<_>>()
            );
            assert_eq!(
                s.attr_values(u.dn, DEPARTMENT_ATTR).unwrap(),
                u.department.into_iter().collect::<Vec<_>>()
            );
            let et = s.attr_values(u.dn, DISABLED_ATTR.0).unwrap();
            assert_eq!(et == [DISABLED_ATTR.1], u.disabled, "{}: {et:?}", u.uid);
            let uuid = s.entry_uuid(u.dn).unwrap();
            assert_eq!(uuid.len(), 36, "{uuid}");
            if s.has_memberof() {
                let mut got = s.attr_values(u.dn, "memberOf").unwrap();
                got.sort();
                let mut want: Vec<String> = u.groups.iter().map(|g| g.to_string()).collect();
                want.sort();
                assert_eq!(got, want, "memberOf of {}", u.uid);
            }
        }
        // A search for the metacharacter uid must escape it (RFC 4515).
        let out = user_search(
            &s,
            SERVICE_DN,
            SERVICE_PASSWORD,
            "(uid=star\\2a\\28paren\\29\\5cback)",
            &["1.1"],
        );
        assert!(out.success(), "{out:?}");
        assert_eq!(out.stdout.trim(), format!("dn: {}", STAR.dn));

        // The service account reads the tree, but not userPassword; entryUUID visible.
        let out = user_search(
            &s,
            SERVICE_DN,
            SERVICE_PASSWORD,
            "(uid=hamlet)",
            &["*", "entryUUID", "memberOf"],
        );
        assert!(out.success(), "{out:?}");
        assert!(
            out.stdout.contains("mail: hamlet@zulip.com"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("entryUUID: "), "{}", out.stdout);
        assert!(!out.stdout.contains("userPassword"), "{}", out.stdout);
        let out = user_search(
            &s,
            SERVICE_DN,
            SERVICE_PASSWORD,
            "(objectClass=groupOfNames)",
            &["1.1"],
        );
        assert_eq!(out.stdout.matches("dn: ").count(), 3, "{}", out.stdout);
        // An ordinary user sees only its own entry; anonymous sees nothing.
        let out = user_search(&s, HAMLET.dn, HAMLET.password, "(objectClass=*)", &["1.1"]);
        assert_eq!(out.stdout.trim(), format!("dn: {}", HAMLET.dn), "{out:?}");
        let mut cmd = s.client_command("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-H",
            &s.uri(),
            "-b",
            PEOPLE_DN,
            "(uid=hamlet)",
            "1.1",
        ]);
        let out = s.run(&mut cmd, None).unwrap();
        assert!(
            !out.stdout.contains("dn:"),
            "anonymous read something: {out:?}"
        );

        // Wrong password: invalidCredentials (49). Unknown DN too.
        let out = whoami(&s, &s.uri(), HAMLET.dn, "wrong", &[]);
        assert_eq!(out.code(), Some(49), "{out:?}");
        let out = whoami(
            &s,
            &s.uri(),
            "uid=nobody,ou=people,dc=example,dc=org",
            "x",
            &[],
        );
        assert_eq!(out.code(), Some(49), "{out:?}");

        // Hostile: a DN with an empty password binds as anonymous.
        let out = whoami(&s, &s.uri(), HAMLET.dn, "", &[]);
        assert!(out.success(), "empty-password bind was refused: {out:?}");
        assert_eq!(out.stdout.trim(), "anonymous");

        // StartTLS and LDAPS with the right CA; failure with the wrong CA.
        let out = whoami(&s, &s.uri(), HAMLET.dn, HAMLET.password, &["-ZZ"]);
        assert!(out.success(), "StartTLS failed: {out:?}");
        let out = whoami(&s, &s.ldaps_uri(), HAMLET.dn, HAMLET.password, &[]);
        assert!(out.success(), "LDAPS failed: {out:?}");
        // (Not `ldaps://localhost`: libldap replaces the host name `localhost` by the reverse
        // lookup of the peer address before checking the certificate, here `vm`.)
        for (uri, extra) in [(s.uri(), &["-ZZ"][..]), (s.ldaps_uri(), &[][..])] {
            let mut cmd = s.client_command("ldapwhoami");
            cmd.env("LDAPTLS_CACERT", s.wrong_ca_file())
                .args([
                    "-x",
                    "-H",
                    &uri,
                    "-o",
                    "nettimeout=5",
                    "-D",
                    HAMLET.dn,
                    "-w",
                    HAMLET.password,
                ])
                .args(extra);
            let out = s.run(&mut cmd, None).unwrap();
            assert!(
                !out.success(),
                "TLS with the wrong CA succeeded on {uri}: {out:?}"
            );
        }

        // add / modify / delete / restore / rename.
        let old_uuid = s.entry_uuid(AARON.dn).unwrap();
        s.delete_dn(AARON.dn).unwrap();
        assert!(s.attr_values(AARON.dn, "uid").is_err());
        assert_eq!(
            whoami(&s, &s.uri(), AARON.dn, AARON.password, &[]).code(),
            Some(49)
        );
        s.restore_seed_entry(AARON.dn).unwrap();
        assert_ne!(s.entry_uuid(AARON.dn).unwrap(), old_uuid);
        assert!(whoami(&s, &s.uri(), AARON.dn, AARON.password, &[]).success());
        s.modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: employeeType\nemployeeType: disabled\n",
            AARON.dn
        ))
        .unwrap();
        assert_eq!(
            s.attr_values(AARON.dn, "employeeType").unwrap(),
            ["disabled"]
        );
        s.set_password(JOSE.dn, "new-pw-\u{f1}").unwrap();
        assert!(whoami(&s, &s.uri(), JOSE.dn, "new-pw-\u{f1}", &[]).success());
        let nomail_uuid = s.entry_uuid(NOMAIL.dn).unwrap();
        s.rename(NOMAIL.dn, "uid=nomail2").unwrap();
        assert_eq!(
            s.entry_uuid("uid=nomail2,ou=people,dc=example,dc=org")
                .unwrap(),
            nomail_uuid
        );
        s.add_ldif(
            "dn: uid=newbie,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: newbie\ncn: New Bie\nsn: Bie\nuserPassword: np\n",
        )
        .unwrap();
        assert!(
            whoami(
                &s,
                &s.uri(),
                "uid=newbie,ou=people,dc=example,dc=org",
                "np",
                &[]
            )
            .success()
        );
        assert!(s.add_ldif("dn: uid=newbie,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: newbie\ncn: x\nsn: x\n").is_err());

        // stop: nothing answers; restart: same ports, same data.
        let (uri, pid) = (s.uri(), s.pid().unwrap());
        // A client connection open across the stop must not keep the port from being reused.
        let held = std::net::TcpStream::connect(("127.0.0.1", s.port())).unwrap();
        s.stop();
        assert!(!s.is_running());
        let out = whoami(&s, &uri, HAMLET.dn, HAMLET.password, &[]);
        assert!(!out.success(), "answered after stop: {out:?}");
        assert!(std::net::TcpStream::connect(("127.0.0.1", s.port())).is_err());
        let t = Instant::now();
        s.restart().unwrap();
        eprintln!("Slapd::restart took {:?}", t.elapsed());
        assert_eq!(s.uri(), uri);
        assert_ne!(s.pid().unwrap(), pid);
        drop(held);
        assert!(whoami(&s, &uri, HAMLET.dn, HAMLET.password, &[]).success());
        assert!(whoami(&s, &s.ldaps_uri(), HAMLET.dn, HAMLET.password, &[]).success());
        assert_eq!(
            s.attr_values(AARON.dn, "employeeType").unwrap(),
            ["disabled"]
        );

        // pause: connects, never answers; resume: answers again.
        s.pause().unwrap();
        let mut cmd = s.client_command("ldapwhoami");
        cmd.args([
            "-x",
            "-H",
            &uri,
            "-o",
            "nettimeout=1",
            "-o",
            "timeout=1",
            "-D",
            HAMLET.dn,
            "-w",
            HAMLET.password,
        ]);
        let out = run(&mut cmd, None, Duration::from_secs(2));
        assert!(
            out.map(|o| !o.success()).unwrap_or(true),
            "paused slapd answered"
        );
        s.resume().unwrap();
        assert!(whoami(&s, &uri, HAMLET.dn, HAMLET.password, &[]).success());

        // Drop kills the process.
        let pid = s.pid().unwrap();
        let dir = s.dir().to_owned();
        drop(s);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "slapd {pid} survived drop"
        );
        assert!(!dir.exists());
    }

    #[test]
    fn two_fixtures_in_parallel() {
        let a = Slapd::start().unwrap();
        let b = Slapd::start().unwrap();
        assert_ne!(a.port(), b.port());
        // b's server certificate does not chain to a's CA.
        let mut cmd = b.client_command("ldapwhoami");
        cmd.env("LDAPTLS_CACERT", a.ca_file()).args([
            "-x",
            "-H",
            &b.ldaps_uri(),
            "-o",
            "nettimeout=5",
        ]);
        assert!(!b.run(&mut cmd, None).unwrap().success());
        let mut cmd = a.client_command("ldapwhoami");
        cmd.args([
            "-x",
            "-H",
            &a.ldaps_uri(),
            "-D",
            HAMLET.dn,
            "-w",
            HAMLET.password,
        ]);
        assert!(a.run(&mut cmd, None).unwrap().success());
    }
}
