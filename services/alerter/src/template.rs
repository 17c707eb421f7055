//! Alert messages: handlebars templates rendered with an alert instance.
