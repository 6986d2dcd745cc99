//! Quickstart (filled in by issue #2).
fn main() {}
