//! Every action message and actioner endpoint against its schema (being written).
