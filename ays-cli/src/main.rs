//! The `ays` command.
fn main() {}
