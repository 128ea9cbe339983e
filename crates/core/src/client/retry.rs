//! Exponential backoff with full jitter, bounded by attempts and a deadline.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The pause before attempt `attempt + 1` (after `attempt` failures): a random
    /// share of `base * 2^(attempt-1)`, capped; at least `floor` (e.g. Retry-After).
    pub fn delay(&self, attempt: u32, floor: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_delay);
        let jittered = ceiling.mul_f64(fastrand::f64());
        jittered.max(floor.unwrap_or_default().min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let d = policy.delay(attempt, None);
            let ceiling = (policy.base_delay * 2u32.pow(attempt - 1)).min(policy.max_delay);
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
        let floored = policy.delay(1, Some(Duration::from_secs(2)));
        assert!(floored >= Duration::from_secs(2));
        let capped = policy.delay(1, Some(Duration::from_secs(60)));
        assert!(capped <= policy.max_delay);
    }
}
