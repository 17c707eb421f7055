//! The alerter: evaluates every tenant's alert rules on each snapshot and
//! host event as it arrives, keeps each alert instance's state in MariaDB,
//! and sends notifications through an outbox.

#![forbid(unsafe_code)]

pub mod condition;
pub mod notify;
pub mod template;
