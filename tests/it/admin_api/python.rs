//! The `zulip` Python bindings' own administration methods against a live server — a member,
//! an administrator and an owner each with their zuliprc — refused and allowed exactly where
//! Zulip refuses and allows them: `get_members`, `get_user_by_id`, `update_user_by_id`,
//! `deactivate_user_by_id`, `reactivate_user_by_id`, `create_user`, and `call_endpoint` for
//! `PATCH realm` and `DELETE users/me`.

use std::net::TcpListener;

use auth_core::{BackendKind, Role};
use latchkey_tests::python::{
    run_python, venv_python_or_skip, with_loopback_resolver, write_zuliprc,
};
use latchkey_tests::{DbKind, PW, TestDb, TestServer};
use serde_json::Value;

const SCRIPT: &str = r#"
import json, sys, zulip

owner, admin, member = (zulip.Client(config_file=p, client="LatchkeyTest/1.0") for p in sys.argv[1:4])
cordelia, owner_id = int(sys.argv[4]), int(sys.argv[5])
new = {"email": "ophelia@zulip.com", "password": "Nunnery-2-go!", "full_name": "Ophelia"}
out = {}
out["list"] = member.get_members()
out["one"] = member.get_user_by_id(cordelia, include_custom_profile_fields=True)
out["member_rename"] = member.update_user_by_id(cordelia, full_name="Cordelia Lear")
out["admin_rename"] = admin.update_user_by_id(cordelia, full_name="Cordelia Lear", role=300)
out["admin_to_owner"] = admin.update_user_by_id(cordelia, role=100)
out["member_deactivate"] = member.deactivate_user_by_id(cordelia)
out["admin_deactivate"] = admin.deactivate_user_by_id(cordelia)
out["while_deactivated"] = admin.get_user_by_id(cordelia)
out["member_reactivate"] = member.reactivate_user_by_id(cordelia)
out["admin_reactivate"] = admin.reactivate_user_by_id(cordelia)
out["after"] = admin.get_user_by_id(cordelia)
out["member_create"] = member.create_user(new)
out["admin_create"] = admin.create_user(new)
out["owner_create"] = owner.create_user(new)
realm = lambda c, methods: c.call_endpoint(url="realm", method="PATCH", request={"authentication_methods": methods})
out["member_realm"] = realm(member, {"Dev": False, "Email": True})
out["admin_realm"] = realm(admin, {"Dev": False, "Email": True})
out["owner_realm_none"] = realm(owner, {"Email": False})
out["owner_realm"] = realm(owner, {"Dev": False, "Email": True})
out["owner_last"] = owner.deactivate_user_by_id(owner_id)
out["owner_self"] = owner.call_endpoint("users/me", method="DELETE")
out["member_self"] = member.call_endpoint("users/me", method="DELETE")
out["member_gone"] = admin.get_user_by_id(int(sys.argv[6]))
print(json.dumps(out))
"#;

#[track_caller]
fn ok(v: &Value, step: &str) {
    assert_eq!(v[step]["result"], "success", "{step}: {}", v[step]);
}

#[track_caller]
fn refused(v: &Value, step: &str, code: &str, msg: &str) {
    let r = &v[step];
    assert_eq!(
        (r["result"].as_str(), r["code"].as_str(), r["msg"].as_str()),
        (Some("error"), Some(code), Some(msg)),
        "{step}: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_bindings_administer_the_realm() {
    let Some(_py) = venv_python_or_skip() else {
        return;
    };
    let db = TestDb::new(DbKind::Sqlite).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = db.settings();
    s.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
    s.server.external_host = format!("example.test:{port}");
    s.development.enabled = true;
    s.auth.backends = vec![BackendKind::Email, BackendKind::Dev];
    let server = TestServer::start(s).await;
    let zulip = server.create_realm("zulip", "Zulip").await;
    let site = format!("http://zulip.example.test:{port}");
    let mut rcs = Vec::new();
    for (email, role) in [
        ("desdemona@zulip.com", Role::Owner),
        ("iago@zulip.com", Role::Administrator),
        ("hamlet@zulip.com", Role::Member),
    ] {
        let user = server.create_user(&zulip, email, Some(PW), role).await;
        let dir = db.dir().join(role.name());
        std::fs::create_dir_all(&dir).unwrap();
        let rc = write_zuliprc(&dir, email, &server.key_of(&user).await, &site);
        rcs.push((rc.to_str().unwrap().to_owned(), user));
    }
    let cordelia = server
        .create_user(&zulip, "cordelia@zulip.com", Some(PW), Role::Member)
        .await;
    let mut args: Vec<String> = rcs.iter().map(|(rc, _)| rc.clone()).collect();
    args.push(cordelia.id.0.to_string());
    args.push(rcs[0].1.id.0.to_string());
    args.push(rcs[2].1.id.0.to_string());
    let script = with_loopback_resolver(SCRIPT);
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_python(&script, &args, &[])
    })
    .await
    .unwrap()
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("json from python");

    ok(&v, "list");
    assert_eq!(
        v["list"]["members"].as_array().unwrap().len(),
        4,
        "{}",
        v["list"]
    );
    ok(&v, "one");
    assert_eq!(v["one"]["user"]["user_id"], cordelia.id.0);
    assert!(
        v["one"]["user"]["delivery_email"].is_null(),
        "a member does not see it"
    );
    assert_eq!(v["one"]["user"]["profile_data"], serde_json::json!({}));
    refused(
        &v,
        "member_rename",
        "BAD_REQUEST",
        "Insufficient permission",
    );
    ok(&v, "admin_rename");
    refused(
        &v,
        "admin_to_owner",
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization owner",
    );
    refused(
        &v,
        "member_deactivate",
        "BAD_REQUEST",
        "Insufficient permission",
    );
    ok(&v, "admin_deactivate");
    assert_eq!(v["while_deactivated"]["user"]["is_active"], false);
    refused(
        &v,
        "member_reactivate",
        "BAD_REQUEST",
        "Insufficient permission",
    );
    ok(&v, "admin_reactivate");
    let after = &v["after"]["user"];
    assert_eq!(
        (&after["full_name"], &after["role"], &after["is_active"]),
        (
            &Value::from("Cordelia Lear"),
            &Value::from(300),
            &Value::from(true)
        ),
        "{after}"
    );
    refused(
        &v,
        "member_create",
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization administrator",
    );
    refused(
        &v,
        "admin_create",
        "BAD_REQUEST",
        "User not authorized to create users",
    );
    ok(&v, "owner_create");
    assert!(v["owner_create"]["user_id"].as_i64().is_some());
    refused(
        &v,
        "member_realm",
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization administrator",
    );
    refused(
        &v,
        "admin_realm",
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization owner",
    );
    refused(
        &v,
        "owner_realm_none",
        "BAD_REQUEST",
        "At least one authentication method must be enabled.",
    );
    ok(&v, "owner_realm");
    assert_eq!(
        v["owner_realm"]["authentication_methods"],
        serde_json::json!({"Dev": false, "Email": true})
    );
    refused(
        &v,
        "owner_last",
        "BAD_REQUEST",
        "Cannot deactivate the only organization owner",
    );
    refused(
        &v,
        "owner_self",
        "CANNOT_DEACTIVATE_LAST_USER",
        "Cannot deactivate the only organization owner.",
    );
    assert_eq!(v["owner_self"]["is_last_owner"], true);
    ok(&v, "member_self");
    assert_eq!(
        v["member_gone"]["user"]["is_active"], false,
        "{}",
        v["member_gone"]
    );
    let ophelia = server
        .admin
        .store
        .user_by_email(zulip.id, "ophelia@zulip.com")
        .await
        .unwrap()
        .expect("created");
    assert_eq!(ophelia.role, Role::Member);
    server.stop().await;
}
