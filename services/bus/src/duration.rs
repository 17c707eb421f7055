//! Human durations in config files: `500ms`, `10s`, `5m`, `2h`, `7d`.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a duration; write a number followed by ms, s, m, h or d (e.g. 10s)")]
pub struct DurationError {
    pub value: String,
}

pub fn parse(value: &str) -> Result<Duration, DurationError> {
    let error = || DurationError { value: value.to_owned() };
    let trimmed = value.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    let millis = match unit {
        "ms" => number,
        "s" => number.checked_mul(1_000).ok_or_else(error)?,
        "m" => number.checked_mul(60_000).ok_or_else(error)?,
        "h" => number.checked_mul(3_600_000).ok_or_else(error)?,
        "d" => number.checked_mul(86_400_000).ok_or_else(error)?,
        _ => return Err(error()),
    };
    Ok(Duration::from_millis(millis))
}

/// The inverse of [`parse`], for printing defaults.
pub fn format(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    if millis == 0 {
        return "0s".to_owned();
    }
    format!("{millis}ms")
}

/// `#[serde(with = "vigil_bus::duration::serde_text")]` for config fields.
pub mod serde_text {
    use std::time::Duration;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).map_err(D::Error::custom)
    }
}

/// `#[serde(default, with = "vigil_bus::duration::serde_text_option")]` for
/// optional duration fields (`null` or absent: `None`).
pub mod serde_text_option {
    use std::time::Duration;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&super::format(*duration)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => super::parse(&text).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86400)));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["", "10", "s", "-1s", "1.5s", "10 parsecs", "99999999999999999999s"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["250ms", "10s", "5m", "2h", "7d", "90s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
