//! The DES block cipher (FIPS 46-3), with crypt(3)'s salt perturbation of the expansion.
//!
//! Written here rather than taken from the `des` crate because traditional and BSDi crypt
//! change the cipher itself: each set salt bit `i` swaps bits `i` and `i + 24` of the
//! expansion E, which no block-cipher API exposes. With a zero salt this is plain DES, which
//! Oracle 10g's DES-CBC uses. The tables are the standard's; `tests` checks the standard's
//! own worked example, and the vectors check every crypt variant against libxcrypt and
//! passlib.

// Every index here is a table position below the table's length by construction (a loop
// counter bounded by the table, or a value masked to 6 bits for a 64-entry row), and the
// shifts stay below 64; none of the arithmetic can overflow. The narrowing casts take the
// halves of a 64-bit block, or values already masked to the narrower width.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

/// Initial permutation: output bit i (1-based, MSB first) is input bit `IP[i]`.
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61,
    53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// The round function's permutation of the S-box outputs.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
    13, 30, 6, 22, 11, 4, 25,
];

/// Permuted choice 1: the 56 key bits, from the 64 (parity bits dropped).
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60,
    52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: the 48 subkey bits, from the 56.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52,
    31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of the key halves before each round.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// The eight S-boxes, four rows of sixteen each.
const SBOX: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
        11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9,
        1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
        10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
        4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5,
        14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6,
        9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2,
        12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1,
        13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
        10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14,
        2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
        14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5,
        15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
        12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
        10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
        11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10,
        8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// Permutes the `width`-bit value `input` (bit 1 is its most significant) by `table`.
const fn permute(input: u64, width: u32, table: &[u8]) -> u64 {
    let mut out = 0u64;
    let mut i = 0;
    while i < table.len() {
        let bit = (input >> (width - table[i] as u32)) & 1;
        out = (out << 1) | bit;
        i += 1;
    }
    out
}

/// S-box `i` then P, for each 6-bit input: the round function is eight lookups and XORs.
const SP: [[u32; 64]; 8] = {
    let mut sp = [[0u32; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut b = 0;
        while b < 64 {
            // The outer bits pick the row, the middle four the column.
            let row = ((b >> 4) & 2) | (b & 1);
            let col = (b >> 1) & 0xf;
            let s = SBOX[i][row * 16 + col] as u64;
            sp[i][b] = permute(s << (28 - 4 * i), 32, &P) as u32;
            b += 1;
        }
        i += 1;
    }
    sp
};

/// The inverse of [`IP`].
const FP: [u8; 64] = {
    let mut fp = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        fp[IP[i] as usize - 1] = (i + 1) as u8;
        i += 1;
    }
    fp
};

/// The sixteen 48-bit round keys of a 64-bit key (the low bit of each byte is parity and
/// ignored).
pub(crate) fn key_schedule(key: u64) -> [u64; 16] {
    let cd = permute(key, 64, &PC1);
    let (mut c, mut d) = ((cd >> 28) as u32, (cd & 0x0fff_ffff) as u32);
    let mut keys = [0u64; 16];
    let rotate = |x: u32, n: u32| ((x << n) | (x >> (28 - n))) & 0x0fff_ffff;
    for (k, &shift) in keys.iter_mut().zip(&SHIFTS) {
        c = rotate(c, shift);
        d = rotate(d, shift);
        *k = permute((u64::from(c) << 28) | u64::from(d), 56, &PC2);
    }
    keys
}

/// The 48-bit mask of expansion bits that `salt` swaps: salt bit `i` (from the least
/// significant) exchanges E output bits `i` and `i + 24` (counted from the first).
pub(crate) fn salt_mask(salt: u32) -> u64 {
    (0..24)
        .filter(|i| (salt >> i) & 1 == 1)
        .fold(0u64, |m, i| m | (1u64 << (23 - i)))
}

fn feistel(r: u32, subkey: u64, mask: u64) -> u32 {
    // E: eight overlapping 6-bit groups of R, bit 32 wrapping to the front and bit 1 to the end.
    let r = u64::from(r);
    let wrapped = ((r & 1) << 33) | (r << 1) | (r >> 31);
    let mut e = 0u64;
    for i in 0..8 {
        e = (e << 6) | ((wrapped >> (28 - 4 * i)) & 0x3f);
    }
    let swap = ((e >> 24) ^ e) & mask;
    e ^= swap | (swap << 24);
    e ^= subkey;
    let mut out = 0u32;
    for (i, row) in SP.iter().enumerate() {
        out |= row[((e >> (42 - 6 * i)) & 0x3f) as usize];
    }
    out
}

/// Encrypts `block` `count` times under `keys`, with the expansion perturbed by `mask`
/// (zero for plain DES).
pub(crate) fn encrypt(keys: &[u64; 16], mask: u64, block: u64, count: u64) -> u64 {
    let ip = permute(block, 64, &IP);
    let (mut l, mut r) = ((ip >> 32) as u32, ip as u32);
    for _ in 0..count {
        for k in keys {
            (l, r) = (r, l ^ feistel(r, *k, mask));
        }
        // The last round does not swap the halves.
        (l, r) = (r, l);
    }
    permute((u64::from(l) << 32) | u64::from(r), 64, &FP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_encrypts_the_standards_worked_example() {
        // The classic worked example (Grabbe): key 133457799BBCDFF1, plaintext
        // 0123456789ABCDEF, ciphertext 85E813540F0AB405.
        let keys = key_schedule(0x1334_5779_9BBC_DFF1);
        assert_eq!(
            encrypt(&keys, 0, 0x0123_4567_89AB_CDEF, 1),
            0x85E8_1354_0F0A_B405
        );
        // FIPS 81's example: key 0123456789ABCDEF, "Now is t" -> 3FA40E8A984D4815.
        let keys = key_schedule(0x0123_4567_89AB_CDEF);
        assert_eq!(
            encrypt(&keys, 0, 0x4E6F_7720_6973_2074, 1),
            0x3FA4_0E8A_984D_4815
        );
    }
}
