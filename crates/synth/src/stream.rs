//! Random streams of one person, apart from the generator's: what a registry derives from a
//! person (a disability, a farm) is drawn from the person's own stream, so it depends on
//! nothing but the person, and the population and its files stay as they were.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a over `parts` joined by `|`: a stable hash of text.
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let separator: &[u8] = if i == 0 { b"" } else { b"|" };
        for byte in separator.iter().chain(part.as_bytes()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The stream of the person `uin` for the registry (or purpose) `registry`.
pub(crate) fn of(uin: &str, registry: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(fnv1a(&[registry, uin]))
}

/// A draw in `[0, 1)`.
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    rand::Rng::random::<f64>(rng)
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    unit(rng) < p
}

/// The index of the weight a draw falls in (weights need not sum to 1).
pub(crate) fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = unit(rng) * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// A whole number in `lo..=hi`.
pub(crate) fn between(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    rand::Rng::random_range(rng, lo..=hi.max(lo))
}

/// A standard normal draw (Box-Muller).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u = 1.0 - unit(rng);
    let v = unit(rng);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_the_persons_own() {
        let draws = |uin: &str, registry: &str| -> Vec<f64> {
            let mut rng = of(uin, registry);
            (0..4).map(|_| unit(&mut rng)).collect()
        };
        assert_eq!(draws("1234567890", "dr"), draws("1234567890", "dr"));
        assert_ne!(draws("1234567890", "dr"), draws("1234567890", "fr"));
        assert_ne!(draws("1234567890", "dr"), draws("1234567891", "dr"));
        // FNV-1a of "a|b", as the marriages have always spread their dates.
        assert_eq!(fnv1a(&["a", "b"]), 0xe726_b119_0547_8f76);
    }
}
