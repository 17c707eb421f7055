//! Renders `nats/nats-server.conf`, the template every Vigil nats-server runs
//! from, into a configuration nats-server reads.
//!
//! One source, compiled into two crates with `#[path]`: `vigil` (the
//! nats-server `vigil up` runs and `vigil nats config` writes,
//! `services/vigil/src/nats.rs`) and `vigil-testkit` (every test's private
//! server), so the tests run against the limits and the authentication
//! production has. std only: the JWTs come from `vigil_bus::accounts`.
//!
//! Invariants: every `{{name}}` of the template is filled, and a name the
//! renderer does not know is an error (never left in the output); values are
//! written inside the template's double quotes with `\` and `"` escaped, and a
//! value with a control character is refused, so no value can end its string
//! and add configuration.

use std::path::Path;

/// The template, `nats/nats-server.conf`.
pub const TEMPLATE: &str = include_str!("nats-server.conf");

/// The JWTs of an operator-mode server (`vigil_bus::accounts::BusKeys`).
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    pub operator_jwt: &'a str,
    /// Public key of the system account, and its JWT.
    pub system_account: &'a str,
    pub system_account_jwt: &'a str,
    /// Public key of the platform account `VIGIL`, and its JWT.
    pub platform_account: &'a str,
    pub platform_account_jwt: &'a str,
}

/// The values of one server.
#[derive(Debug, Clone, Copy)]
pub struct ServerConf<'a> {
    /// Address to listen on (an IP address or a host name, no brackets).
    pub host: &'a str,
    pub port: u16,
    /// JetStream's store (nats-server adds `jetstream/` under it); the
    /// resolver keeps account JWTs in its `jwt/`.
    pub store_dir: &'a Path,
    pub trust: Trust<'a>,
}

/// [`TEMPLATE`] with the values of `conf`.
pub fn render(conf: &ServerConf<'_>) -> Result<String, String> {
    render_template(TEMPLATE, conf)
}

/// `template` with the values of `conf` (tests render other templates).
pub fn render_template(template: &str, conf: &ServerConf<'_>) -> Result<String, String> {
    let utf8 = |path: &Path| {
        path.to_str().map(str::to_owned).ok_or_else(|| format!("{}: the store directory is not UTF-8", path.display()))
    };
    let store_dir = utf8(conf.store_dir)?;
    let resolver_dir = utf8(&conf.store_dir.join("jwt"))?;
    let port = conf.port.to_string();
    let trust = &conf.trust;
    let mut out = String::with_capacity(template.len() + 4096);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "the nats-server template has an unclosed {{".to_owned())?;
        let name = &after[..end];
        let value = match name {
            "host" => quoted("host", conf.host)?,
            "port" => port.clone(),
            "store_dir" => quoted("store_dir", &store_dir)?,
            "resolver_dir" => quoted("resolver_dir", &resolver_dir)?,
            "operator_jwt" => quoted("operator_jwt", trust.operator_jwt)?,
            "system_account" => quoted("system_account", trust.system_account)?,
            "system_account_jwt" => quoted("system_account_jwt", trust.system_account_jwt)?,
            "platform_account" => quoted("platform_account", trust.platform_account)?,
            "platform_account_jwt" => quoted("platform_account_jwt", trust.platform_account_jwt)?,
            other => return Err(format!("the nats-server template names {{{{{other}}}}}, which the renderer does not know")),
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `value` escaped for a double-quoted string of the nats-server config.
/// The error names the field, never the value.
fn quoted(field: &str, value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(format!("the nats-server {field} is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("the nats-server {field} holds a control character"));
    }
    Ok(value.replace('\\', "\\\\").replace('"', "\\\""))
}
