//! The pool's registration table: which endpoints of which user are bound,
//! until when, and whether a user ever registered.
//!
//! One table is shared by every Front End of the mock, as a pool shares
//! its registrar database, so a phone redirected by a 301 finds nothing
//! stale and a user's endpoint count is the pool's, not one server's.
//! Bindings expire lazily: each lookup drops the ones whose time has come,
//! so no sweeper task is needed and paused-clock tests see exact expiry.
//! This module owns that state; it owns no wire format and reads no clock
//! (callers pass `now`).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::Instant;

/// One bound endpoint ([MS-SIPREGE] 3.1.2.5.1: "stores the EPID,
/// SIP.INSTANCE, and GRUU in a new SIP endpoint").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The `+sip.instance` UUID, lower case, without `urn:uuid:`.
    pub instance: String,
    /// The epid of the From header.
    pub epid: String,
    /// The Contact URI the phone registered.
    pub contact: String,
    /// When the binding lapses unless refreshed.
    pub expires_at: Instant,
}

#[derive(Debug, Default)]
struct UserState {
    /// Whether the user's first registration reached the back-end store.
    seen: bool,
    bindings: Vec<Binding>,
}

/// What [`Registrations::bind`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A new endpoint was added.
    Added,
    /// An existing endpoint (same instance) was refreshed.
    Refreshed,
    /// Refused: the user already has this many live endpoints.
    TooMany(usize),
}

/// Every user's bindings. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Registrations {
    users: Mutex<HashMap<u32, UserState>>,
}

impl Registrations {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_user<T>(&self, user: u32, now: Instant, f: impl FnOnce(&mut UserState) -> T) -> T {
        // A panic while holding the lock cannot leave a binding half
        // written (every update is one push or one assignment), so a
        // poisoned lock is still consistent: keep serving.
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let st = users.entry(user).or_default();
        st.bindings.retain(|b| b.expires_at > now);
        f(st)
    }

    /// Whether the user registered successfully before (its first
    /// registration already cost the back-end store its write).
    pub fn seen(&self, user: u32) -> bool {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.get(&user).is_some_and(|u| u.seen)
    }

    /// The user's live bindings at `now`.
    pub fn bindings(&self, user: u32, now: Instant) -> Vec<Binding> {
        self.with_user(user, now, |st| st.bindings.clone())
    }

    /// Adds or refreshes the binding of `binding.instance`, unless that
    /// would give the user more than `max` live endpoints. Marks the user
    /// as seen.
    pub fn bind(&self, user: u32, binding: Binding, max: usize, now: Instant) -> Bound {
        self.with_user(user, now, |st| {
            if let Some(b) = st
                .bindings
                .iter_mut()
                .find(|b| b.instance == binding.instance)
            {
                *b = binding;
                st.seen = true;
                return Bound::Refreshed;
            }
            if st.bindings.len() >= max {
                return Bound::TooMany(st.bindings.len());
            }
            st.bindings.push(binding);
            st.seen = true;
            Bound::Added
        })
    }

    /// Whether adding `instance` for the user would exceed `max`, without
    /// changing anything: checked before the back-end write so a refused
    /// endpoint does not cost the store a transaction.
    pub fn would_exceed(&self, user: u32, instance: &str, max: usize, now: Instant) -> bool {
        self.with_user(user, now, |st| {
            !st.bindings.iter().any(|b| b.instance == instance) && st.bindings.len() >= max
        })
    }

    /// Removes the binding of `instance`; returns whether there was one.
    pub fn unbind(&self, user: u32, instance: &str, now: Instant) -> bool {
        self.with_user(user, now, |st| {
            let before = st.bindings.len();
            st.bindings.retain(|b| b.instance != instance);
            st.bindings.len() != before
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn binding(instance: &str, expires_at: Instant) -> Binding {
        Binding {
            instance: instance.into(),
            epid: "01".into(),
            contact: "sip:192.0.2.1:5061;transport=tls".into(),
            expires_at,
        }
    }

    #[test]
    fn bind_refresh_limit_expire_unbind() {
        let t = Registrations::new();
        let now = Instant::now();
        let later = now + Duration::from_secs(600);
        assert!(!t.seen(7));
        assert_eq!(t.bind(7, binding("a", later), 2, now), Bound::Added);
        assert!(t.seen(7));
        assert_eq!(t.bind(7, binding("a", later), 2, now), Bound::Refreshed);
        assert_eq!(
            t.bind(7, binding("b", now + Duration::from_secs(10)), 2, now),
            Bound::Added
        );
        assert!(t.would_exceed(7, "c", 2, now));
        assert!(!t.would_exceed(7, "a", 2, now));
        assert_eq!(t.bind(7, binding("c", later), 2, now), Bound::TooMany(2));
        // b lapses: room for c.
        let after = now + Duration::from_secs(11);
        assert_eq!(t.bindings(7, after).len(), 1);
        assert_eq!(t.bind(7, binding("c", later), 2, after), Bound::Added);
        assert!(t.unbind(7, "a", after));
        assert!(!t.unbind(7, "a", after));
        assert_eq!(t.bindings(7, after).len(), 1);
        assert!(t.seen(7), "a user stays seen after signing out");
    }
}
