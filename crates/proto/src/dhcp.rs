//! Placeholder for the dhcp codec; replaced by its implementation.
