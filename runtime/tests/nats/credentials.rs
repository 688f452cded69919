//! NATS credentials against servers that require them: a token, a user and password,
//! an nkey, and a `.creds` file (a server in operator mode, with operator, account and
//! user JWTs made at test time). For each kind, frames sent through a sink with the
//! right secret reach a subscription that authenticates the same way; a wrong secret
//! is a clear, retried error and no frame counts as sent. A secret that cannot be read
//! fails the attempt before a socket is opened, and the sink backs off.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nkeys::KeyPair;
use sinkgen_runtime::{
    Bytes, NatsCredentials, Received, RelaySink, Secret, State, Subscription, SubscriptionBuilder,
};

use super::defects::TempDir;
use super::{MESSAGE_WAIT, PROBES, QUIET, Server, builder, message, server_available};

/// Frames each authenticated run sends.
const N: u64 = 200;

/// A secret in a file of `dir`, named as `services.toml` would name it.
fn secret_file(dir: &TempDir, name: &str, contents: &str) -> Secret {
    let path = dir.0.join(name);
    std::fs::write(&path, contents).expect("write the secret");
    Secret::file(
        path.to_string_lossy().into_owned(),
        format!("relays.quotes.credentials.{name}"),
        "services.toml",
        7,
    )
}

/// A subscription to `subject` presenting `credentials`.
fn subscription(
    server: &Server,
    subject: &str,
    credentials: NatsCredentials,
) -> Subscription<Bytes> {
    SubscriptionBuilder::new(format!("nats://127.0.0.1:{}/{subject}", server.port))
        .name("authenticated_subscription")
        .connect_timeout(Duration::from_secs(2))
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .nats_credentials(credentials)
        .build()
        .expect("valid subscription")
}

/// Receives (nothing is published yet) until the subscription is connected, or, when
/// `refused`, until a connect attempt has failed.
async fn settle(sub: &mut Subscription<Bytes>, refused: bool) {
    for _ in 0..PROBES {
        let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
        let st = sub.status();
        if (!refused && st.connected) || (refused && st.last_error.is_some()) {
            return;
        }
    }
}

/// Waits (bounded) until the sink has made at least `attempts` connect attempts.
async fn attempts(sink: &RelaySink<Bytes>, attempts: u64) {
    for _ in 0..PROBES {
        if sink.status().connect_attempts >= attempts {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the sink made fewer than {attempts} attempts: {:?}",
        sink.status()
    );
}

/// The whole test for one kind of credentials, on a server that requires them.
async fn authenticated_run(
    server: &Server,
    subject: &str,
    good: impl Fn() -> NatsCredentials,
    bad: NatsCredentials,
) {
    // A subscription with the right secret connects and sees every frame.
    let mut sub = subscription(server, subject, good());
    settle(&mut sub, false).await;
    assert!(sub.status().connected, "{:?}", sub.status());

    let sink: RelaySink<Bytes> = builder(server.port, subject, "authenticated_sink")
        .nats_credentials(good())
        .relay()
        .expect("valid sink");
    for i in 1..=N {
        sink.send(message(i)).await.expect("accepted");
    }
    sink.flush()
        .await
        .expect("flushed: the server took every frame");
    let status = sink.status();
    assert_eq!(status.frames_sent, N);
    assert_eq!(status.connect_attempts, 1);
    for i in 1..=N {
        match tokio::time::timeout(MESSAGE_WAIT, sub.recv()).await {
            Ok(Some(Received::Message { message: m, .. })) => assert_eq!(m, message(i)),
            other => panic!("message {i}: {other:?}"),
        }
    }
    assert_eq!(sink.close().await, 0);

    // A wrong secret: the server refuses it, the error says so, the sink backs off
    // and tries again (a rotated secret is read at the next attempt), and nothing
    // counts as sent.
    let refused: RelaySink<Bytes> = builder(server.port, subject, "refused_sink")
        .send_timeout(Duration::from_millis(200))
        .nats_credentials(bad.clone())
        .relay()
        .expect("valid sink");
    for i in 1..=3 {
        refused
            .send(message(i))
            .await
            .expect("queued while connecting");
    }
    attempts(&refused, 3).await;
    let status = refused.status();
    let error = status.last_error.as_ref().expect("the refusal is reported");
    assert!(
        error.to_string().contains("authorization violation"),
        "{error}"
    );
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("credentials"), "{error}");
    assert_eq!(status.frames_sent, 0);
    assert_ne!(status.state, State::Connected);
    assert_eq!(
        refused.close().await,
        3,
        "the queued frames are lost, counted"
    );
    assert!(
        tokio::time::timeout(QUIET, sub.recv()).await.is_err(),
        "nothing from the refused sink reaches the subscriber"
    );

    // A subscription with the wrong secret reports the refusal and stays down.
    let mut denied = subscription(server, subject, bad);
    settle(&mut denied, true).await;
    let st = denied.status();
    assert!(!st.connected);
    let error = st.last_error.as_ref().expect("the refusal is reported");
    assert!(
        error.to_string().contains("authorization violation"),
        "{error}"
    );
}

#[tokio::test]
async fn token() {
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let server = Server::with_config(&dir, r#"authorization { token: "t0ken-of-the-feed" }"#).await;
    let good = secret_file(&dir, "token", "t0ken-of-the-feed\n");
    let bad = secret_file(&dir, "wrong_token", "not-the-token");
    authenticated_run(
        &server,
        "creds.token",
        || NatsCredentials::token(good.clone()),
        NatsCredentials::token(bad),
    )
    .await;
}

#[tokio::test]
async fn user_and_password() {
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let server = Server::with_config(
        &dir,
        r#"authorization { users = [ { user: "feed", password: "pa55-of-the-feed" } ] }"#,
    )
    .await;
    let good = secret_file(&dir, "password", "pa55-of-the-feed");
    let bad = secret_file(&dir, "wrong_password", "pa55-of-another");
    authenticated_run(
        &server,
        "creds.user",
        || NatsCredentials::user_password("feed", good.clone()),
        NatsCredentials::user_password("feed", bad),
    )
    .await;
}

#[tokio::test]
async fn nkey() {
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let user = KeyPair::new_user();
    let stranger = KeyPair::new_user();
    let server = Server::with_config(
        &dir,
        &format!(
            r#"authorization {{ users = [ {{ nkey: "{}" }} ] }}"#,
            user.public_key()
        ),
    )
    .await;
    let good = secret_file(&dir, "nkey", &user.seed().unwrap());
    let bad = secret_file(&dir, "stranger_nkey", &stranger.seed().unwrap());
    authenticated_run(
        &server,
        "creds.nkey",
        || NatsCredentials::nkey(good.clone()),
        NatsCredentials::nkey(bad),
    )
    .await;
}

/// Base64url without padding, as JWTs are written.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    out
}

/// A NATS JWT (version 2): `subject`'s claims of `kind`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: &str) -> String {
    let header = base64url(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = format!(
        r#"{{"jti":"{}","iat":{iat},"iss":"{}","name":"{name}","sub":"{subject}","nats":{nats}}}"#,
        name.to_uppercase(),
        issuer.public_key()
    );
    let signed = format!("{header}.{}", base64url(claims.as_bytes()));
    let signature = issuer.sign(signed.as_bytes()).expect("sign the claims");
    format!("{signed}.{}", base64url(&signature))
}

/// A `.creds` file as `nsc` writes it.
fn creds_file(user_jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

#[test]
fn base64url_matches_known_values() {
    assert_eq!(base64url(b""), "");
    assert_eq!(base64url(b"f"), "Zg");
    assert_eq!(base64url(b"fo"), "Zm8");
    assert_eq!(base64url(b"foo"), "Zm9v");
    assert_eq!(base64url(b"foob"), "Zm9vYg");
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
}

#[tokio::test]
async fn creds_file_in_operator_mode() {
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let operator = KeyPair::new_operator();
    let account = KeyPair::new_account();
    let user = KeyPair::new_user();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "operator",
        r#"{"type":"operator","version":2}"#,
    );
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "quotes",
        r#"{"limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,"leaf":-1},"default_permissions":{"pub":{},"sub":{}},"type":"account","version":2}"#,
    );
    let user_nats =
        r#"{"pub":{},"sub":{},"subs":-1,"data":-1,"payload":-1,"type":"user","version":2}"#;
    let user_jwt = jwt(&account, &user.public_key(), "feed", user_nats);
    let server = Server::with_config(
        &dir,
        &format!(
            "operator: \"{operator_jwt}\"\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{account_jwt}\"\n}}\n",
            account.public_key()
        ),
    )
    .await;
    let good = secret_file(&dir, "creds", &creds_file(&user_jwt, &user.seed().unwrap()));
    // The right JWT with another user's seed: the signature of the nonce does not
    // match the JWT's subject.
    let stranger = KeyPair::new_user();
    let bad = secret_file(
        &dir,
        "stranger_creds",
        &creds_file(&user_jwt, &stranger.seed().unwrap()),
    );
    authenticated_run(
        &server,
        "creds.file",
        || NatsCredentials::creds(good.clone()),
        NatsCredentials::creds(bad),
    )
    .await;
}

/// A secret that cannot be read (a variable not set, a file that is not a `.creds`
/// file) fails the attempt with an error naming the key and line, before any
/// connection is opened; the sink backs off rather than spinning.
#[tokio::test]
async fn an_unreadable_secret_fails_the_attempt_and_the_sink_backs_off() {
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let server = Server::with_config(&dir, r#"authorization { token: "t0ken" }"#).await;
    let missing = Secret::env(
        "SINKGEN_TEST_CREDENTIALS_NEVER_SET",
        "relays.quotes.credentials.token",
        "services.toml",
        9,
    );
    let not_creds = secret_file(&dir, "creds", "just a token, not a .creds file");
    for (credentials, expected) in [
        (
            NatsCredentials::token(missing),
            "`relays.quotes.credentials.token` (services.toml:9): environment variable \
             `SINKGEN_TEST_CREDENTIALS_NEVER_SET` is not set",
        ),
        (
            NatsCredentials::creds(not_creds),
            "`relays.quotes.credentials.creds` (line 7, { file = ",
        ),
    ] {
        let sink: RelaySink<Bytes> = builder(server.port, "creds.unreadable", "unreadable")
            .send_timeout(Duration::from_millis(200))
            .backoff(Duration::from_millis(20), Duration::from_millis(40))
            .nats_credentials(credentials)
            .relay()
            .expect("valid sink");
        sink.send(message(1)).await.expect("queued");
        attempts(&sink, 2).await;
        let started = sink.status().connect_attempts;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let status = sink.status();
        // At least 20 ms between attempts: at most about 20 more in 400 ms.
        assert!(
            status.connect_attempts - started <= 21,
            "the sink spins: {} attempts in 400 ms",
            status.connect_attempts - started
        );
        let error = status.last_error.as_ref().expect("the error is reported");
        assert!(error.to_string().contains(expected), "{error}");
        assert!(error.is_retryable(), "{error}");
        assert_eq!(status.frames_sent, 0);
        let connz = server.connz().await;
        assert!(
            connz.contains("\"num_connections\": 0"),
            "no connection without a secret: {connz}"
        );
        assert_eq!(sink.close().await, 1);
    }
}

/// Credentials are for a NATS server only: a hand-built sink with credentials and a
/// socket endpoint is refused when it is built.
#[test]
fn credentials_need_a_nats_endpoint() {
    let token = NatsCredentials::token(Secret::env("T", "relays.q.credentials.token", "f", 1));
    let err = sinkgen_runtime::SinkBuilder::new("tcp://127.0.0.1:9")
        .nats_credentials(token)
        .relay::<Bytes>()
        .expect_err("credentials on a tcp:// endpoint");
    assert!(err.to_string().contains("nats://"), "{err}");
}

/// A durable relay (JetStream) on a server that requires a user and password: the
/// durable sink's frames are acknowledged and stored, and a durable subscription that
/// authenticates too reads every one; with a wrong password neither gets through.
#[tokio::test]
async fn durable_relay_with_user_and_password() {
    use sinkgen_runtime::durable::Durable;
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let store = dir.0.join("jetstream");
    let server = Server::with_config(
        &dir,
        &format!(
            "jetstream {{ store_dir: {:?} }}\n\
             authorization {{ users = [ {{ user: \"desk\", password: \"pa55-of-the-desk\" }} ] }}",
            store.to_string_lossy()
        ),
    )
    .await;
    let good = secret_file(&dir, "password", "pa55-of-the-desk");
    let bad = secret_file(&dir, "wrong_password", "not-it");
    let sink: RelaySink<Bytes> = builder(server.port, "creds.durable", "durable_sink")
        .durable(Durable::new("creds_durable"))
        .nats_credentials(NatsCredentials::user_password("desk", good.clone()))
        .relay()
        .expect("valid sink");
    for i in 1..=N {
        sink.send(message(i)).await.expect("accepted");
    }
    tokio::time::timeout(MESSAGE_WAIT, sink.flush())
        .await
        .expect("flush ends")
        .expect("every frame acknowledged");
    assert_eq!(sink.status().frames_sent, N);
    assert_eq!(sink.close().await, 0);

    let mut sub: Subscription<Bytes> =
        SubscriptionBuilder::new(format!("nats://127.0.0.1:{}/creds.durable", server.port))
            .identity("ledger", "creds_durable")
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .durable(Durable::new("creds_durable"))
            .nats_credentials(NatsCredentials::user_password("desk", good))
            .build()
            .expect("valid subscription");
    for i in 1..=N {
        match tokio::time::timeout(MESSAGE_WAIT, sub.recv()).await {
            Ok(Some(Received::Message { message: m, .. })) => assert_eq!(m, message(i)),
            other => panic!("message {i}: {other:?}"),
        }
    }

    let refused: RelaySink<Bytes> = builder(server.port, "creds.durable", "refused_durable")
        .send_timeout(Duration::from_millis(200))
        .durable(Durable::new("creds_durable"))
        .nats_credentials(NatsCredentials::user_password("desk", bad.clone()))
        .relay()
        .expect("valid sink");
    refused.send(message(1)).await.expect("queued");
    attempts(&refused, 2).await;
    let status = refused.status();
    let error = status.last_error.as_ref().expect("the refusal is reported");
    assert!(
        error.to_string().contains("authorization violation"),
        "{error}"
    );
    assert!(error.is_retryable(), "{error}");
    assert_eq!(status.frames_sent, 0);
    assert_eq!(refused.close().await, 1);

    let mut denied: Subscription<Bytes> =
        SubscriptionBuilder::new(format!("nats://127.0.0.1:{}/creds.durable", server.port))
            .identity("audit", "creds_durable")
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .durable(Durable::new("creds_durable"))
            .nats_credentials(NatsCredentials::user_password("desk", bad))
            .build()
            .expect("valid subscription");
    settle(&mut denied, true).await;
    let st = denied.status();
    assert!(!st.connected);
    let error = st.last_error.as_ref().expect("the refusal is reported");
    assert!(
        error.to_string().contains("authorization violation"),
        "{error}"
    );
}
