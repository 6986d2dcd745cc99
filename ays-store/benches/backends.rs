//! Backend benchmarks (placeholder).
fn main() {}
