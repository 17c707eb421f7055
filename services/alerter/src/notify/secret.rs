//! Masks for secrets: what [`super::ChannelConfig::redacted`] prints, what
//! [`super::ChannelConfig::keep_secrets`] recognises, and the scrubbing of
//! error messages.

/// What stands for the hidden part of a secret.
pub(super) const MASK: &str = "••••";

/// A secret shorter than this is masked whole (its tail would give away too much).
const SHORTEST_WITH_TAIL: usize = 16;

/// How a secret is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SecretKind {
    /// `••••` and at most the last 4 characters.
    Plain,
    /// `scheme://host[:port]/` kept, the rest as a plain secret.
    Url,
}

/// One secret field of a channel config.
pub(super) struct SecretField<'a> {
    /// Under `config`: `url`, `password`, `headers.X-Token`.
    pub path: String,
    pub kind: SecretKind,
    pub value: &'a mut String,
}

impl<'a> SecretField<'a> {
    pub fn plain(path: impl Into<String>, value: &'a mut String) -> SecretField<'a> {
        SecretField { path: path.into(), kind: SecretKind::Plain, value }
    }

    pub fn url(path: impl Into<String>, value: &'a mut String) -> SecretField<'a> {
        SecretField { path: path.into(), kind: SecretKind::Url, value }
    }

    pub fn masked(&self) -> String {
        match self.kind {
            SecretKind::Plain => mask(self.value),
            SecretKind::Url => mask_url(self.value),
        }
    }
}

/// `••••` plus the last 4 characters of a secret of at least 16, else `••••`.
pub(super) fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    if count < SHORTEST_WITH_TAIL {
        return MASK.to_owned();
    }
    let tail: String = secret.chars().skip(count - 4).collect();
    format!("{MASK}{tail}")
}

/// `https://hooks.slack.com/••••wxyz`: the scheme, host and port stay (never
/// a user or password), everything after them is masked as a plain secret.
/// A value that is not a URL with a host is masked whole.
pub(super) fn mask_url(secret: &str) -> String {
    match origin_and_rest(secret) {
        Some((origin, rest)) => format!("{origin}/{}", mask(rest.trim_start_matches('/'))),
        None => mask(secret),
    }
}

/// `https://host:port` and what follows it (path, query, fragment).
fn origin_and_rest(value: &str) -> Option<(String, String)> {
    let url = reqwest::Url::parse(value).ok()?;
    let host = url.host_str().filter(|host| !host.is_empty())?;
    let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
    let mut rest = url.path().to_owned();
    if let Some(query) = url.query() {
        rest.push('?');
        rest.push_str(query);
    }
    if let Some(fragment) = url.fragment() {
        rest.push('#');
        rest.push_str(fragment);
    }
    Some((format!("{}://{host}{port}", url.scheme()), rest))
}

/// `text` with every secret (at least 4 characters long), and the part after
/// the host of a secret URL, replaced by its mask.
pub(super) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if secret.chars().count() >= 4 && text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), &mask_url(secret));
        }
        if let Some((_, rest)) = origin_and_rest(secret) {
            if rest.len() >= 8 && text.contains(rest.as_str()) {
                text = text.replace(rest.as_str(), &format!("/{}", mask(rest.trim_start_matches('/'))));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_keeps_at_most_the_last_four_characters_of_a_long_secret() {
        assert_eq!(mask("R0ZsdWZmeS1rZXktMTIzNGFiY2Q"), "••••iY2Q");
        assert_eq!(mask("0123456789abcdef"), "••••cdef");
        assert_eq!(mask("0123456789abcde"), "••••", "15 characters: masked whole");
        assert_eq!(mask(""), "••••");
        assert_eq!(mask("ééééééééééééééééé"), "••••éééé", "characters, not bytes");
    }

    #[test]
    fn a_url_mask_keeps_scheme_host_and_port_only() {
        assert_eq!(mask_url("https://hooks.slack.com/services/T000/B000/XXXXXXXXwxyz"), "https://hooks.slack.com/••••wxyz");
        assert_eq!(mask_url("http://user:pass@10.0.0.1:8080/hook?token=abcdefgh12345678"), "http://10.0.0.1:8080/••••5678");
        assert_eq!(mask_url("https://example.com/short"), "https://example.com/••••");
        assert_eq!(mask_url("not a url at all, but long"), "••••long");
    }

    #[test]
    fn scrubbing_replaces_secrets_and_secret_url_paths() {
        let secrets =
            vec!["https://hooks.slack.com/services/T000/B000/XXXXXXXXwxyz".to_owned(), "hunter2-hunter2-hunter2".to_owned()];
        let text = "slack: echoed /services/T000/B000/XXXXXXXXwxyz and hunter2-hunter2-hunter2";
        assert_eq!(scrub(text, &secrets), "slack: echoed /••••wxyz and ••••ter2");
    }
}
