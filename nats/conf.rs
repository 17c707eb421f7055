//! Renders `nats/nats-server.conf`, the template every Vigil nats-server runs
//! from, into a configuration nats-server reads.
//!
//! One source, compiled into two crates with `#[path]`: `vigil` (the
//! nats-server `vigil up` runs, `services/vigil/src/nats.rs`) and
//! `vigil-testkit` (every test's private server), so the tests run against
//! the limits and the authentication production has. std only.
//!
//! Invariants: every `{{name}}` of the template is filled, and a name the
//! renderer does not know is an error (never left in the output); values are
//! written inside the template's double quotes with `\` and `"` escaped, and a
//! value with a control character is refused, so no value can end its string
//! and add configuration.

use std::path::Path;

/// The template, `nats/nats-server.conf`.
pub const TEMPLATE: &str = include_str!("nats-server.conf");

/// The account Vigil's services (and their one user) belong to.
pub const ACCOUNT: &str = "VIGIL";

/// The values of one server.
#[derive(Debug, Clone, Copy)]
pub struct ServerConf<'a> {
    /// Address to listen on (an IP address or a host name, no brackets).
    pub host: &'a str,
    pub port: u16,
    /// JetStream's store (nats-server adds `jetstream/` under it).
    pub store_dir: &'a Path,
    /// The user of the `VIGIL` account and its password.
    pub user: &'a str,
    pub password: &'a str,
}

/// [`TEMPLATE`] with the values of `conf`.
pub fn render(conf: &ServerConf<'_>) -> Result<String, String> {
    render_template(TEMPLATE, conf)
}

/// `template` with the values of `conf` (tests render other templates).
pub fn render_template(template: &str, conf: &ServerConf<'_>) -> Result<String, String> {
    let store_dir =
        conf.store_dir.to_str().ok_or_else(|| format!("{}: the store directory is not UTF-8", conf.store_dir.display()))?;
    let port = conf.port.to_string();
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "the nats-server template has an unclosed {{".to_owned())?;
        let name = &after[..end];
        let value = match name {
            "host" => quoted("host", conf.host)?,
            "port" => port.clone(),
            "store_dir" => quoted("store_dir", store_dir)?,
            "user" => quoted("user", conf.user)?,
            "password" => quoted("password", conf.password)?,
            other => return Err(format!("the nats-server template names {{{{{other}}}}}, which the renderer does not know")),
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `value` escaped for a double-quoted string of the nats-server config.
/// The error names the field, never the value (it may be the password).
fn quoted(field: &str, value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(format!("the nats-server {field} is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("the nats-server {field} holds a control character"));
    }
    Ok(value.replace('\\', "\\\\").replace('"', "\\\""))
}
