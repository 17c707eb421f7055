//! The condition language of alert rules (a subset of CEL).
