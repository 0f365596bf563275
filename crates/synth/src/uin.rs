//! Unique identification numbers: a keyed permutation of the person index, plus a Verhoeff
//! check digit, so that uniqueness holds by construction and single-digit typos and adjacent
//! transpositions are detected.

/// Verhoeff multiplication table (dihedral group D5).
const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

/// Verhoeff permutation table.
const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff inverse table.
const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// The Verhoeff check digit of a string of ASCII digits (the payload, without the check digit).
fn verhoeff_digit(payload: &[u8]) -> u8 {
    let mut c = 0u8;
    for (i, &b) in payload.iter().rev().enumerate() {
        c = D[c as usize][P[(i + 1) % 8][(b - b'0') as usize] as usize];
    }
    INV[c as usize]
}

/// Whether `uin` is a well-formed UIN: exactly 10 ASCII digits, the first not zero, the last a
/// valid Verhoeff check digit over the first nine.
pub fn uin_is_valid(uin: &str) -> bool {
    let bytes = uin.as_bytes();
    if bytes.len() != 10 || bytes[0] == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut c = 0u8;
    for (i, &b) in bytes.iter().rev().enumerate() {
        c = D[c as usize][P[i % 8][(b - b'0') as usize] as usize];
    }
    c == 0
}

/// A keyed bijection of `[0, domain)`: a balanced Feistel network on `2 * half_bits` bits,
/// restricted to the domain by cycle walking.
#[derive(Debug, Clone)]
pub(crate) struct Permutation {
    keys: [u64; 4],
    half_bits: u32,
    domain: u64,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser: a cheap, well-spread round function.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Permutation {
    pub(crate) fn new(keys: [u64; 4], half_bits: u32, domain: u64) -> Self {
        assert!(domain <= 1u64 << (2 * half_bits));
        Self {
            keys,
            half_bits,
            domain,
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            let f = mix(r ^ k) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half_bits) | r
    }

    /// The image of `x`, which must be below the domain size.
    pub(crate) fn apply(&self, x: u64) -> u64 {
        assert!(x < self.domain, "index {x} exceeds the permutation domain");
        let mut y = self.feistel(x);
        while y >= self.domain {
            y = self.feistel(y);
        }
        y
    }
}

/// Number of distinct UINs: nine payload digits with a non-zero first digit.
pub(crate) const UIN_CAPACITY: u64 = 900_000_000;

/// Maps person indices to UINs.
#[derive(Debug, Clone)]
pub(crate) struct UinMint {
    permutation: Permutation,
}

impl UinMint {
    pub(crate) fn new(keys: [u64; 4]) -> Self {
        Self {
            permutation: Permutation::new(keys, 15, UIN_CAPACITY),
        }
    }

    /// The UIN of the person with global index `index`, as 10 ASCII digits.
    pub(crate) fn digits(&self, index: u64) -> [u8; 10] {
        let mut n = 100_000_000 + self.permutation.apply(index);
        let mut out = [0u8; 10];
        for slot in out[..9].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out[9] = b'0' + verhoeff_digit(&out[..9]);
        out
    }

    pub(crate) fn uin(&self, index: u64) -> String {
        let digits = self.digits(index);
        // Always ASCII digits.
        String::from_utf8_lossy(&digits).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_known_value() {
        // The textbook example: the check digit of 236 is 3.
        assert_eq!(verhoeff_digit(b"236"), 3);
        assert_eq!(verhoeff_digit(b"12345"), 1);
    }

    #[test]
    fn valid_and_invalid_uins() {
        let mint = UinMint::new([1, 2, 3, 4]);
        for i in 0..1000 {
            let uin = mint.uin(i);
            assert!(uin_is_valid(&uin), "{uin}");
            // Every single-digit substitution in the payload is caught.
            let mut bytes = uin.clone().into_bytes();
            bytes[4] = if bytes[4] == b'9' { b'0' } else { bytes[4] + 1 };
            assert!(!uin_is_valid(std::str::from_utf8(&bytes).unwrap()));
        }
        assert!(!uin_is_valid(""));
        assert!(!uin_is_valid("12345678901"));
        assert!(!uin_is_valid("12345abcde"));
        assert!(!uin_is_valid("0000000000"));
    }

    #[test]
    fn permutation_is_a_bijection() {
        let p = Permutation::new([7, 11, 13, 17], 5, 1000);
        let mut seen = vec![false; 1000];
        for x in 0..1000 {
            let y = p.apply(x) as usize;
            assert!(y < 1000);
            assert!(!seen[y]);
            seen[y] = true;
        }
    }
}
