//! Bad input never yields a 500 or a panic: every answer is the Zulip envelope with a clear
//! `msg` and `code`, and nothing is lost (the server keeps serving correct requests).

use latchkey_tests::{Client, DbKind, Fixture, PW, both_dbs};

both_dbs!(
    malformed_requests_get_envelopes,
    huge_bodies_are_refused_cleanly,
    chunked_multipart_headers_are_bounded,
    invalid_utf8_is_refused,
    wrong_content_type_means_no_body_parameters,
    odd_hosts_and_paths,
);

async fn still_serving(f: &Fixture) {
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", PW)
        .await
        .assert_success();
}

async fn malformed_requests_get_envelopes(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let post = |body: &'static str, ctype: &'static str| {
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .header("content-type", ctype)
            .body(body)
    };
    // Empty strings.
    Client::send(post(
        "username=&password=",
        "application/x-www-form-urlencoded",
    ))
    .await
    .assert_error(400, "BAD_REQUEST", "Enter a valid email address.");
    Client::send(post(
        "username=hamlet%40zulip.com&password=",
        "application/x-www-form-urlencoded",
    ))
    .await
    .assert_bad_credentials();
    // Garbage that is not form encoding at all, and a broken multipart body.
    Client::send(post("%%%&&&===", "application/x-www-form-urlencoded"))
        .await
        .assert_envelope_error(400);
    Client::send(post(
        "--nope\r\nnot multipart",
        "multipart/form-data; boundary=zz",
    ))
    .await
    .assert_envelope_error(400);
    Client::send(post("whatever", "multipart/form-data"))
        .await
        .assert_envelope_error(400);
    // Injection-looking usernames are just invalid emails; control characters are refused
    // before anything else looks at the name.
    for u in ["a\0b@zulip.com", "hamlet@zulip.com\r\nX: y"] {
        f.client().fetch_api_key("zulip", u, PW).await.assert_error(
            400,
            "BAD_REQUEST",
            "Invalid username: it contains control characters.",
        );
    }
    for u in ["*", ")(uid=*"] {
        f.client().fetch_api_key("zulip", u, PW).await.assert_error(
            400,
            "BAD_REQUEST",
            "Enter a valid email address.",
        );
    }
    still_serving(&f).await;
}

async fn huge_bodies_are_refused_cleanly(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let big = "a".repeat(1024 * 1024);
    for ctype in [
        "application/x-www-form-urlencoded",
        "application/json",
        "multipart/form-data; boundary=zz",
        "text/plain",
    ] {
        let body = format!("username=hamlet%40zulip.com&password={big}");
        let r = Client::send(
            c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
                .header("content-type", ctype)
                .body(body),
        )
        .await;
        r.assert_envelope_error(413);
    }
    // A long but acceptable password is simply wrong.
    let long = "p".repeat(10_000);
    f.client()
        .fetch_api_key("zulip", "hamlet@zulip.com", &long)
        .await
        .assert_bad_credentials();
    still_serving(&f).await;
}

async fn invalid_utf8_is_refused(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    for body in [
        b"username=hamlet%40zulip.com&password=%FF%FE".to_vec(),
        b"username=hamlet%40zulip.com&password=\xff\xfe".to_vec(),
        b"username=ham\xc3let%40zulip.com&password=x".to_vec(),
    ] {
        let r = Client::send(
            c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
        r.assert_envelope_error(400);
        assert!(
            r.body["msg"].as_str().unwrap().contains("UTF-8"),
            "{}",
            r.raw
        );
    }
    let r = Client::send(c.request(
        reqwest::Method::POST,
        "zulip",
        "/api/v1/fetch_api_key?username=%FF&password=x",
    ))
    .await;
    r.assert_envelope_error(400);
    still_serving(&f).await;
}

async fn wrong_content_type_means_no_body_parameters(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    let r = Client::send(
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .json(&serde_json::json!({"username": "hamlet@zulip.com", "password": PW})),
    )
    .await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'username' argument",
    );
    let r = Client::send(
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .header("content-type", "text/plain")
            .body(format!("username=hamlet@zulip.com&password={PW}")),
    )
    .await;
    r.assert_error(
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'username' argument",
    );
    let r = Client::send(
        c.request(reqwest::Method::POST, "zulip", "/api/v1/fetch_api_key")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(format!("username=hamlet%40zulip.com&password={PW}")),
    )
    .await;
    r.assert_success();
}

async fn odd_hosts_and_paths(kind: DbKind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let c = f.client();
    // Unknown realm, an empty Host, a Host for another domain: root (no realm here) → 404.
    for host in [
        "nope.example.test",
        "",
        "evil.example.com",
        "zulip.example.test.evil.com",
    ] {
        c.fetch_api_key_at(host, "hamlet@zulip.com", PW)
            .await
            .assert_error(404, "NONEXISTENT_SUBDOMAIN", "Invalid subdomain");
    }
    let r = c.get("zulip", "/api/v1/no_such_endpoint").await;
    r.assert_error(404, "BAD_REQUEST", "Endpoint does not exist");
    let r = c
        .get("zulip", "/api/v1/fetch_api_key/../server_settings")
        .await;
    assert_ne!(r.status, 500);
    still_serving(&f).await;
}

/// A chunked multipart body (no Content-Length) whose field header block is huge: the raw
/// body is counted, not only field contents.
async fn chunked_multipart_headers_are_bounded(kind: DbKind) {
    use std::io::{Read, Write};
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let addr = f.server.addr;
    let status = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let head = "POST /api/v1/fetch_api_key HTTP/1.1\r\nHost: zulip.example.test\r\n\
                    Content-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n";
        s.write_all(head.as_bytes()).unwrap();
        let start = "--zz\r\nContent-Disposition: form-data; name=\"username\"\r\nX-Junk: ";
        let mut send = |data: &[u8]| {
            let _ = s.write_all(format!("{:x}\r\n", data.len()).as_bytes());
            let _ = s.write_all(data);
            let _ = s.write_all(b"\r\n");
        };
        send(start.as_bytes());
        let junk = vec![b'a'; 64 * 1024];
        for _ in 0..40 {
            send(&junk);
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(
        status.starts_with("HTTP/1.1 413") || status.starts_with("HTTP/1.1 400"),
        "{}",
        &status[..status.len().min(200)]
    );
    assert!(
        status.contains("\"result\":\"error\""),
        "{}",
        &status[..status.len().min(400)]
    );
    still_serving(&f).await;
}
