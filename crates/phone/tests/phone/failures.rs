//! Failures as phones meet them.
