//! Placeholder for the soap codec; replaced by its implementation.
