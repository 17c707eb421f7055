//! Notification channels: how an alert event is sent to each kind of receiver.
