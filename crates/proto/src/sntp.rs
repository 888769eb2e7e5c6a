//! Placeholder for the sntp codec; replaced by its implementation.
