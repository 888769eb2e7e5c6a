//! Placeholder for the dns codec; replaced by its implementation.
