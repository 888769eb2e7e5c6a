//! The `phonestorm` command line: parses flags into settings and hands them to the crates.

fn main() {}
