//! Replayed sync requests: a signed request whose `(sender_id, message_id)` was already served
//! is refused with `rjct.message_id.duplicate` until its signature expires (after which the
//! signature check refuses it anyway). Async requests need none of this: a repeated message is
//! found in the inbox and answered once.
//!
//! The memory is this node's: with several nodes behind a load balancer, a replay sent to
//! another node within the signature's validity (5 minutes by default) is served there.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use dci::{ReasonCode, Rejection};

/// The `(sender_id, message_id)` pairs served, each until its signature expires.
pub struct ReplayGuard {
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    until: HashMap<(String, String), SystemTime>,
    order: VecDeque<(SystemTime, (String, String))>,
}

impl ReplayGuard {
    /// Remembers at most `capacity` pairs; beyond, the oldest are forgotten early.
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            capacity: capacity.max(1),
            inner: Mutex::new(Seen::default()),
        }
    }

    /// Records a request signed until `expires`; refuses it if it was seen before.
    pub fn check(
        &self,
        sender_id: &str,
        message_id: &str,
        expires: SystemTime,
        now: SystemTime,
    ) -> Result<(), Rejection> {
        let mut seen = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((until, _)) = seen.order.front() {
            if *until > now && seen.order.len() < self.capacity {
                break;
            }
            if let Some((until, key)) = seen.order.pop_front()
                && seen.until.get(&key) == Some(&until)
            {
                seen.until.remove(&key);
            }
        }
        let key = (sender_id.to_string(), message_id.to_string());
        if seen.until.get(&key).is_some_and(|until| *until > now) {
            return Err(Rejection::new(
                ReasonCode::MessageIdDuplicate,
                format!("message_id '{message_id}' of {sender_id} was already served"),
            ));
        }
        seen.until.insert(key.clone(), expires);
        seen.order.push_back((expires, key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_message_is_served_once_until_its_signature_expires() {
        let guard = ReplayGuard::new(3);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let later = now + Duration::from_secs(300);
        assert!(guard.check("a", "m1", later, now).is_ok());
        let again = guard.check("a", "m1", later, now).unwrap_err();
        assert_eq!(again.code, ReasonCode::MessageIdDuplicate);
        // Another sender's m1 is another message.
        assert!(guard.check("b", "m1", later, now).is_ok());
        // Once expired, the pair is forgotten (the signature check refuses it by then).
        assert!(guard.check("a", "m1", later, later).is_ok());
        // Beyond capacity, the oldest pairs go first.
        for id in ["x", "y", "z", "w"] {
            assert!(guard.check("c", id, later, now).is_ok());
        }
        assert!(
            guard.check("c", "x", later, now).is_ok(),
            "x was forgotten early"
        );
        assert!(guard.check("c", "w", later, now).is_err());
    }
}
