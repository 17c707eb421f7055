//! Checks shared by the services' configuration sections. Each service owns
//! one config struct (`serde` with `deny_unknown_fields` and `default`, its
//! defaults written once in its `Default`); the `vigil` binary composes them
//! into its file and names the file, key and value in errors.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// A `usize` of at least 1.
pub fn positive_usize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let value = usize::deserialize(deserializer)?;
    if value == 0 {
        return Err(D::Error::custom("0 is not allowed; give a number of at least 1"));
    }
    Ok(value)
}

/// A socket address to listen on (`ip:port`).
pub fn listen_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<std::net::SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim()
        .parse()
        .map_err(|_| D::Error::custom(format!("{text:?} is not a listen address; write ip:port, e.g. 0.0.0.0:8080 or [::]:8080")))
}

/// A duration (`vigil_bus::duration` text: `500ms`, `10s`, `5m`, `7d`) longer than zero.
pub mod positive_duration {
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let value = vigil_bus::duration::serde_text::deserialize(deserializer)?;
        if value.is_zero() {
            return Err(D::Error::custom("0 is not allowed; give a duration longer than zero (e.g. 5s)"));
        }
        Ok(value)
    }

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        vigil_bus::duration::serde_text::serialize(value, serializer)
    }
}

/// A cron schedule: 5 fields (`min hour day month weekday`, at second 0) or
/// 6 (`sec min hour day month weekday`), UTC; refused when it never happens
/// again. The error names the text and says how to write it.
pub fn cron_schedule(text: &str) -> Result<cron::Schedule, String> {
    let fields = text.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {}", text.trim()),
        6 => text.trim().to_owned(),
        _ => {
            return Err(format!(
                "{text:?} has {fields} fields; write 5 (min hour day month weekday) or 6 (sec min hour day month weekday), UTC"
            ))
        }
    };
    let schedule = <cron::Schedule as std::str::FromStr>::from_str(&full).map_err(|error| format!("{text:?}: {error}"))?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!("{text:?} never happens again"));
    }
    Ok(schedule)
}

/// A config string that must be a [`cron_schedule`] (kept as written).
pub fn cron_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    cron_schedule(&text).map_err(D::Error::custom)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Section {
        #[serde(deserialize_with = "super::positive_usize")]
        count: usize,
        #[serde(with = "super::positive_duration")]
        every: Duration,
    }

    #[test]
    fn cron_takes_five_or_six_fields_and_names_a_bad_one() {
        assert!(super::cron_schedule("0 * * * *").is_ok());
        assert!(super::cron_schedule("*/10 * * * * *").is_ok());
        assert!(super::cron_schedule("61 * * * *").unwrap_err().starts_with("\"61 * * * *\": "));
        assert!(super::cron_schedule("* * *").unwrap_err().contains("has 3 fields; write 5"));
    }

    #[test]
    fn zero_is_refused_naming_why_and_other_values_pass() {
        let parse = |text: &str| serde_json::from_str::<Section>(text).map_err(|e| e.to_string());
        let section = parse(r#"{"count": 3, "every": "5s"}"#).unwrap();
        assert_eq!((section.count, section.every), (3, Duration::from_secs(5)));
        assert!(parse(r#"{"count": 0, "every": "5s"}"#).unwrap_err().contains("0 is not allowed"));
        assert!(parse(r#"{"count": 1, "every": "0s"}"#).unwrap_err().contains("longer than zero"));
    }
}
