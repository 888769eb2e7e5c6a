//! Shared pieces of phonestorm's benchmarks. The benchmarks themselves are
//! binaries under `src/bin/`, run by `just bench`; their figures and the
//! commands that produce them are written down in `bench/README.md`.
//! Benchmarks are not tests: nothing here asserts a speed.
