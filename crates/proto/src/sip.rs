//! Placeholder for the sip codec; replaced by its implementation.
