//! Who may do what on the bus: NATS operator mode (decentralized JWT
//! authentication), the accounts of a Vigil bus and the JWTs that declare them.
//!
//! - The **operator** key signs every account JWT (its own JWT names the
//!   system account). Its seed stays in `data_dir` (the vigil processes) and
//!   never reaches nats-server, which holds only JWTs.
//! - `SYS`, the system account, and its user: the one identity that may push
//!   an account JWT to a running server ([`CLAIMS_UPDATE`]).
//! - `VIGIL`, the platform account (JetStream, unlimited), and the services'
//!   user (every permission in that account). It exports [`EXPORTS`] as
//!   streams, nothing else: no service, so nothing outside it can publish
//!   into it or make it publish.
//! - One account per tenant with integrators: it imports
//!   [`tenant_subjects`] from `VIGIL` (the tenant's own
//!   `metrics.<t>.>`, `hosts.<t>.>`, `alerts.<t>.>`, `actions.<t>.>`) and keeps
//!   them in its stream [`HISTORY_STREAM`] (bounded JetStream). Its users,
//!   signed by the tenant's account key, may subscribe to those subjects and
//!   their inboxes and publish only what a consumer of that stream needs
//!   ([`integrator_permissions`]); a user is revoked by pushing the account
//!   JWT again with the user's key in `revocations`.
//!
//! The JWTs are nats-io/jwt v2 claims (`alg: ed25519-nkey`), encoded here with
//! `nkeys` and `serde_json`; the tests prove nats-server accepts them. A seed is
//! never logged nor put in an error: errors name the file or the key's role.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use nkeys::KeyPair;
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::subjects::{ACTIONS_ALL, ALERTS_ALL, HOSTS_ALL, METRICS_ALL};

/// The platform account: Vigil's services.
pub const PLATFORM_ACCOUNT: &str = "VIGIL";
/// The system account (server events, claim updates).
pub const SYSTEM_ACCOUNT: &str = "SYS";
/// Where the system user pushes an account JWT; a running server takes it
/// (stores it in its resolver directory, and a cluster spreads it).
pub const CLAIMS_UPDATE: &str = "$SYS.REQ.CLAIMS.UPDATE";
/// What the platform account exports as streams; a tenant account imports
/// the `<root>.<tenant>.>` part of each.
pub const EXPORTS: [&str; 4] = [METRICS_ALL, HOSTS_ALL, ALERTS_ALL, ACTIONS_ALL];
/// The stream of a tenant account that keeps the imported subjects.
pub const HISTORY_STREAM: &str = "HISTORY";
/// How long [`HISTORY_STREAM`] keeps a message.
pub const HISTORY_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// How many bytes [`HISTORY_STREAM`] keeps (the oldest go first); also the
/// tenant account's whole JetStream file storage.
pub const HISTORY_MAX_BYTES: i64 = 1 << 30;
/// Consumers a tenant account may hold (its integrators' readers).
pub const TENANT_MAX_CONSUMERS: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("the {what} is not a valid nkey seed of its kind")]
    BadSeed { what: &'static str },
    #[error("cannot sign with the {what} key")]
    Sign { what: &'static str },
    #[error("{what} is not a valid nats credentials file (user jwt and nkey seed)")]
    BadCredentials { what: String },
}

/// Seconds since the epoch, for `iat` and revocations.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// The subjects tenant `tenant` receives (`tenant` went through
/// [`crate::ids::validate`]): one per export.
pub fn tenant_subjects(tenant: &str) -> Vec<String> {
    debug_assert!(crate::ids::validate("tenant", tenant).is_ok(), "unvalidated tenant id {tenant:?}");
    EXPORTS.iter().map(|export| format!("{}.{tenant}.>", export.trim_end_matches(".>"))).collect()
}

/// The key pair of `seed`, checked to be of the kind `what` names.
fn from_seed(seed: &str, kind: char, what: &'static str) -> Result<KeyPair, AccountsError> {
    let pair = KeyPair::from_seed(seed.trim()).map_err(|_| AccountsError::BadSeed { what })?;
    if !pair.public_key().starts_with(kind) {
        return Err(AccountsError::BadSeed { what });
    }
    Ok(pair)
}

/// The seed of a freshly generated pair (`nkeys` keeps it).
fn seed_of(pair: &KeyPair) -> String {
    pair.seed().expect("a generated key pair has its seed")
}

/// A new account key pair's seed (a tenant account).
pub fn new_account_seed() -> String {
    seed_of(&KeyPair::new_account())
}

/// A new user key pair's seed (an integrator).
pub fn new_user_seed() -> String {
    seed_of(&KeyPair::new_user())
}

/// The public key of an account or user seed.
pub fn public_key(seed: &str, what: &'static str) -> Result<String, AccountsError> {
    Ok(KeyPair::from_seed(seed.trim()).map_err(|_| AccountsError::BadSeed { what })?.public_key())
}

/// The seeds of a Vigil bus, generated once (`vigil` keeps them in
/// `data_dir/nats.keys`, 0600): every JWT is derived from them.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusKeys {
    pub operator: String,
    pub system_account: String,
    pub system_user: String,
    pub platform_account: String,
    pub platform_user: String,
}

impl std::fmt::Debug for BusKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusKeys(<seeds redacted>)")
    }
}

impl BusKeys {
    /// New random keys.
    pub fn generate() -> BusKeys {
        BusKeys {
            operator: seed_of(&KeyPair::new_operator()),
            system_account: seed_of(&KeyPair::new_account()),
            system_user: seed_of(&KeyPair::new_user()),
            platform_account: seed_of(&KeyPair::new_account()),
            platform_user: seed_of(&KeyPair::new_user()),
        }
    }

    /// Checks every seed is of its kind.
    pub fn check(&self) -> Result<(), AccountsError> {
        self.operator_key()?;
        from_seed(&self.system_account, 'A', "system account")?;
        from_seed(&self.system_user, 'U', "system user")?;
        from_seed(&self.platform_account, 'A', "platform account")?;
        from_seed(&self.platform_user, 'U', "platform user")?;
        Ok(())
    }

    pub fn operator_key(&self) -> Result<KeyPair, AccountsError> {
        from_seed(&self.operator, 'O', "operator")
    }

    pub fn system_account_public(&self) -> Result<String, AccountsError> {
        Ok(from_seed(&self.system_account, 'A', "system account")?.public_key())
    }

    pub fn platform_account_public(&self) -> Result<String, AccountsError> {
        Ok(from_seed(&self.platform_account, 'A', "platform account")?.public_key())
    }

    /// The operator's JWT (self-signed, naming the system account).
    pub fn operator_jwt(&self) -> Result<String, AccountsError> {
        let operator = self.operator_key()?;
        let nats = json!({ "system_account": self.system_account_public()?, "type": "operator", "version": 2 });
        encode(&operator, &operator.public_key(), "vigil", nats, "operator", None)
    }

    /// The system account's JWT (no JetStream, no exports).
    pub fn system_account_jwt(&self) -> Result<String, AccountsError> {
        let nats = account_nats(json!([]), json!([]), json!({}), BTreeMap::new());
        encode(&self.operator_key()?, &self.system_account_public()?, SYSTEM_ACCOUNT, nats, "operator", None)
    }

    /// The platform account's JWT: unlimited JetStream, [`EXPORTS`] as streams.
    pub fn platform_account_jwt(&self) -> Result<String, AccountsError> {
        let exports: Vec<Value> = EXPORTS
            .iter()
            .map(|subject| json!({ "name": subject.trim_end_matches(".>"), "subject": subject, "type": "stream" }))
            .collect();
        let jetstream = json!({ "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1 });
        let nats = account_nats(json!([]), Value::Array(exports), jetstream, BTreeMap::new());
        encode(&self.operator_key()?, &self.platform_account_public()?, PLATFORM_ACCOUNT, nats, "operator", None)
    }

    /// The credentials file of the services' user (every permission in `VIGIL`).
    pub fn platform_user_creds(&self) -> Result<String, AccountsError> {
        let account = from_seed(&self.platform_account, 'A', "platform account")?;
        user_creds(&account, &self.platform_user, "vigil", None, None)
    }

    /// The credentials file of the system user (pushes account JWTs).
    pub fn system_user_creds(&self) -> Result<String, AccountsError> {
        let account = from_seed(&self.system_account, 'A', "system account")?;
        user_creds(&account, &self.system_user, "sys", None, None)
    }
}

/// A tenant account's JWT, signed by the operator: imports of
/// [`tenant_subjects`] from the platform account, bounded JetStream for
/// [`HISTORY_STREAM`], the revoked users' keys (`user key → revoked at`).
pub fn tenant_account_jwt(
    keys: &BusKeys,
    account_public: &str,
    tenant: &str,
    revocations: &BTreeMap<String, i64>,
) -> Result<String, AccountsError> {
    let platform = keys.platform_account_public()?;
    let imports: Vec<Value> = tenant_subjects(tenant)
        .into_iter()
        .map(|subject| {
            json!({ "name": subject.trim_end_matches(".>"), "subject": subject, "account": platform, "type": "stream" })
        })
        .collect();
    let jetstream = json!({
        "mem_storage": 0,
        "disk_storage": HISTORY_MAX_BYTES,
        "streams": 1,
        "consumer": TENANT_MAX_CONSUMERS,
    });
    let nats = account_nats(Value::Array(imports), json!([]), jetstream, revocations.clone());
    encode(&keys.operator_key()?, account_public, &format!("tenant-{tenant}"), nats, "operator", None)
}

/// What an integrator of `tenant` may do: subscribe to its tenant's subjects
/// and inboxes; publish only the JetStream API calls of a consumer of
/// [`HISTORY_STREAM`] (create, info, next, ack, flow control) and
/// `$JS.API.INFO`; never a stream create, update, delete or purge.
pub fn integrator_permissions(tenant: &str) -> Value {
    let stream = HISTORY_STREAM;
    let mut subscribe = tenant_subjects(tenant);
    subscribe.push("_INBOX.>".to_owned());
    json!({
        "pub": { "allow": [
            "$JS.API.INFO",
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.CONSUMER.CREATE.{stream}"),
            format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>"),
            format!("$JS.API.CONSUMER.INFO.{stream}.>"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.>"),
            format!("$JS.ACK.{stream}.>"),
            format!("$JS.FC.{stream}.>"),
        ] },
        "sub": { "allow": subscribe },
    })
}

/// The credentials file of integrator user `user_seed` of a tenant account.
pub fn integrator_creds(account_seed: &str, user_seed: &str, tenant: &str, name: &str) -> Result<String, AccountsError> {
    let account = from_seed(account_seed, 'A', "tenant account")?;
    user_creds(&account, user_seed, name, Some(integrator_permissions(tenant)), None)
}

/// How long the platform's own user of a tenant account is valid.
pub const TENANT_ADMIN_TTL_SECONDS: i64 = 300;

/// The credentials file of a new user of a tenant account with every
/// permission in it, valid [`TENANT_ADMIN_TTL_SECONDS`] (the platform,
/// creating the account's stream; never stored).
pub fn tenant_admin_creds(account_seed: &str) -> Result<String, AccountsError> {
    let account = from_seed(account_seed, 'A', "tenant account")?;
    user_creds(&account, &new_user_seed(), "vigil-platform", None, Some(now_unix() + TENANT_ADMIN_TTL_SECONDS))
}

/// The `nats` claims of an account.
fn account_nats(imports: Value, exports: Value, jetstream: Value, revocations: BTreeMap<String, i64>) -> Value {
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
    });
    if let (Value::Object(limits), Value::Object(jetstream)) = (&mut limits, jetstream) {
        limits.extend(jetstream);
    }
    let mut nats = json!({ "limits": limits, "default_permissions": { "pub": {}, "sub": {} }, "type": "account", "version": 2 });
    for (field, value) in [("imports", imports), ("exports", exports)] {
        if value.as_array().is_some_and(|items| !items.is_empty()) {
            nats[field] = value;
        }
    }
    if !revocations.is_empty() {
        nats["revocations"] = json!(revocations);
    }
    nats
}

/// A user JWT signed by `account` plus the user's seed, as a creds file.
fn user_creds(
    account: &KeyPair,
    user_seed: &str,
    name: &str,
    permissions: Option<Value>,
    expires: Option<i64>,
) -> Result<String, AccountsError> {
    let user = from_seed(user_seed, 'U', "user")?;
    let mut nats = json!({ "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2 });
    if let Some(Value::Object(permissions)) = permissions {
        nats.as_object_mut().expect("an object").extend(permissions);
    }
    let jwt = encode(account, &user.public_key(), name, nats, "account", expires)?;
    Ok(creds(&jwt, user_seed.trim()))
}

/// The creds file format nats clients read (`nats --creds`, nats.py, async-nats).
pub fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// The user JWT and the seed of a creds file; `what` (its path) names it in errors.
pub fn parse_creds(text: &str, what: &str) -> Result<(String, String), AccountsError> {
    let bad = || AccountsError::BadCredentials { what: what.to_owned() };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let jwt = lines.iter().find(|line| line.starts_with("eyJ")).ok_or_else(bad)?;
    let seed = lines.iter().find(|line| line.starts_with("SU")).ok_or_else(bad)?;
    from_seed(seed, 'U', "user").map_err(|_| bad())?;
    Ok(((*jwt).to_owned(), (*seed).to_owned()))
}

/// Signs `nats` claims about `subject` with `issuer` (`issuer_kind` names it
/// in errors): a JWT nats-server reads.
/// `expires`: unix seconds after which the server refuses it (`exp`).
fn encode(
    issuer: &KeyPair,
    subject: &str,
    name: &str,
    nats: Value,
    issuer_kind: &'static str,
    expires: Option<i64>,
) -> Result<String, AccountsError> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let mut claims = json!({
        "jti": "",
        "iat": now_unix(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    if let Some(expires) = expires {
        claims["exp"] = json!(expires);
    }
    // jwt v2: the id is the base32 SHA-512/256 of the claims without it
    let digest = sha2::Sha512_256::digest(claims.to_string().as_bytes());
    claims["jti"] = Value::String(data_encoding::BASE32_NOPAD.encode(&digest));
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let signature = issuer.sign(signed.as_bytes()).map_err(|_| AccountsError::Sign { what: issuer_kind })?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The claims of a JWT (not verified: for tests and listings).
pub fn decode_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// Whether `jwt`'s signature is `issuer_public`'s.
pub fn verify(jwt: &str, issuer_public: &str) -> bool {
    let Some((signed, signature)) = jwt.rsplit_once('.') else { return false };
    let (Ok(signature), Ok(issuer)) = (URL_SAFE_NO_PAD.decode(signature), KeyPair::from_public_key(issuer_public)) else {
        return false;
    };
    issuer.verify(signed.as_bytes(), &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_of_their_kinds_and_round_trip() {
        let keys = BusKeys::generate();
        keys.check().unwrap();
        assert!(keys.operator.starts_with("SO") && keys.system_account.starts_with("SA") && keys.platform_user.starts_with("SU"));
        let text = serde_json::to_string(&keys).unwrap();
        let back: BusKeys = serde_json::from_str(&text).unwrap();
        assert_eq!(back.platform_account_public().unwrap(), keys.platform_account_public().unwrap());
        assert!(!format!("{keys:?}").contains(&keys.operator), "debug never shows a seed");
        let swapped = BusKeys { operator: keys.platform_user.clone(), ..keys.clone() };
        let error = swapped.check().unwrap_err().to_string();
        assert_eq!(error, "the operator is not a valid nkey seed of its kind");
        assert!(!error.contains(&keys.platform_user));
    }

    #[test]
    fn the_operator_signs_the_accounts_and_the_accounts_their_users() {
        let keys = BusKeys::generate();
        let operator = keys.operator_key().unwrap().public_key();
        let operator_jwt = keys.operator_jwt().unwrap();
        assert!(verify(&operator_jwt, &operator));
        let claims = decode_claims(&operator_jwt).unwrap();
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(operator.as_str()), Some(operator.as_str())));
        assert_eq!(claims["nats"]["system_account"], keys.system_account_public().unwrap());
        assert_eq!(claims["jti"].as_str().unwrap().len(), 52, "base32 of 32 bytes");

        let platform = decode_claims(&keys.platform_account_jwt().unwrap()).unwrap();
        assert!(verify(&keys.platform_account_jwt().unwrap(), &operator));
        assert_eq!(platform["sub"], keys.platform_account_public().unwrap());
        let exports: Vec<&str> =
            platform["nats"]["exports"].as_array().unwrap().iter().map(|e| e["subject"].as_str().unwrap()).collect();
        assert_eq!(exports, ["metrics.>", "hosts.>", "alerts.>", "actions.>"]);
        assert!(platform["nats"]["exports"].as_array().unwrap().iter().all(|e| e["type"] == "stream"), "no service export");
        assert_eq!(platform["nats"]["limits"]["disk_storage"], -1);

        let (jwt, seed) = parse_creds(&keys.platform_user_creds().unwrap(), "test").unwrap();
        assert_eq!(seed, keys.platform_user);
        assert!(verify(&jwt, &keys.platform_account_public().unwrap()));
        let user = decode_claims(&jwt).unwrap();
        assert_eq!(user["nats"]["type"], "user");
        assert!(user["nats"].get("pub").is_none(), "the services' user has every permission of VIGIL");
    }

    #[test]
    fn a_tenant_account_imports_only_its_subjects_and_revokes_users() {
        let keys = BusKeys::generate();
        let account_seed = new_account_seed();
        let account = public_key(&account_seed, "tenant account").unwrap();
        let user_seed = new_user_seed();
        let user = public_key(&user_seed, "user").unwrap();
        let revoked = BTreeMap::from([(user.clone(), 1_700_000_000)]);
        let jwt = tenant_account_jwt(&keys, &account, "acme", &revoked).unwrap();
        assert!(verify(&jwt, &keys.operator_key().unwrap().public_key()));
        let claims = decode_claims(&jwt).unwrap();
        let imports = claims["nats"]["imports"].as_array().unwrap();
        let subjects: Vec<&str> = imports.iter().map(|i| i["subject"].as_str().unwrap()).collect();
        assert_eq!(subjects, ["metrics.acme.>", "hosts.acme.>", "alerts.acme.>", "actions.acme.>"]);
        assert!(imports.iter().all(|i| i["account"] == keys.platform_account_public().unwrap() && i["type"] == "stream"));
        assert_eq!(claims["nats"]["revocations"][&user], 1_700_000_000);
        assert_eq!(claims["nats"]["limits"]["disk_storage"], HISTORY_MAX_BYTES);

        let (user_jwt, _) = parse_creds(&integrator_creds(&account_seed, &user_seed, "acme", "grafana").unwrap(), "t").unwrap();
        assert!(verify(&user_jwt, &account));
        let permissions = &decode_claims(&user_jwt).unwrap()["nats"];
        let published: Vec<&str> = permissions["pub"]["allow"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert!(
            published.iter().all(|s| s.starts_with("$JS.") && !s.contains("DELETE") && !s.contains("PURGE")),
            "{published:?}"
        );
        assert!(!published.iter().any(|s| s.contains("STREAM.CREATE") || s.contains("STREAM.UPDATE")));
        let (admin_jwt, _) = parse_creds(&tenant_admin_creds(&account_seed).unwrap(), "t").unwrap();
        assert!(verify(&admin_jwt, &account));
        let expires = decode_claims(&admin_jwt).unwrap()["exp"].as_i64().unwrap();
        assert!(expires > now_unix() && expires <= now_unix() + TENANT_ADMIN_TTL_SECONDS, "the platform's user expires");
        assert!(decode_claims(&user_jwt).unwrap().get("exp").is_none(), "an integrator's lasts until revoked");
        let subscribed = permissions["sub"]["allow"].as_array().unwrap();
        assert_eq!(subscribed.len(), 5);
        assert!(subscribed.iter().all(|s| s.as_str().unwrap().contains(".acme.") || s == "_INBOX.>"));
    }

    #[test]
    fn a_creds_file_without_a_user_seed_is_refused_naming_the_file() {
        let error = parse_creds("-----BEGIN NATS USER JWT-----\neyJx\n------END NATS USER JWT------\n", "/etc/vigil/nats.creds")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/etc/vigil/nats.creds is not a valid nats credentials file"), "{error}");
    }
}
