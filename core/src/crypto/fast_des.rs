//! Table-driven DES core with cached key schedules.
//!
//! The bit permutations (IP, FP, PC-1, PC-2, E, P), the key schedule and the S-box layout are taken from the
//! RustCrypto `des` crate 0.9 (MIT OR Apache-2.0). What differs: the eight S-boxes and the P permutation are
//! folded into eight precomputed 64-entry "SP" tables (P is linear, so P(S1|..|S8) = P(S1) ^ .. ^ P(S8)), the E
//! expansion is replaced by two rotations against a pre-split round key, and a
//! TDES-EDE block runs IP and FP once instead of three times (FP then IP cancel between the stages). Together
//! this makes the CUP-ECB MAC (six DES passes) several times faster. The `des` crate stays the reference: the
//! unit tests check this core against it on random keys and blocks.
#![allow(clippy::unreadable_literal)]

const SHIFTS: [u8; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

// These boxes are not the same ones that appear in the literature. Normally,
// the first and the last bits of the six input bits are used to choose the row
// and the middle four bits are used to choose the column. These sboxes are
// rearranged so that the bottom four bits choose the column and the top two
// bits choose the row. In other words, we can directly index the sbox array
// with the 6 input bits to get the correct value.
#[rustfmt::skip]
const SBOXES: [[u8; 64]; 8] = [
    [
        14,  0,  4, 15, 13,  7,  1,  4,  2, 14, 15,  2, 11, 13,  8,  1,
         3, 10, 10,  6,  6, 12, 12, 11,  5,  9,  9,  5,  0,  3,  7,  8,
         4, 15,  1, 12, 14,  8,  8,  2, 13,  4,  6,  9,  2,  1, 11,  7,
        15,  5, 12, 11,  9,  3,  7, 14,  3, 10, 10,  0,  5,  6,  0, 13,
    ],
    [
        15,  3,  1, 13,  8,  4, 14,  7,  6, 15, 11,  2,  3,  8,  4, 14,
         9, 12,  7,  0,  2,  1, 13, 10, 12,  6,  0,  9,  5, 11, 10,  5,
         0, 13, 14,  8,  7, 10, 11,  1, 10,  3,  4, 15, 13,  4,  1,  2,
         5, 11,  8,  6, 12,  7,  6, 12,  9,  0,  3,  5,  2, 14, 15,  9,
    ],
    [
        10, 13,  0,  7,  9,  0, 14,  9,  6,  3,  3,  4, 15,  6,  5, 10,
         1,  2, 13,  8, 12,  5,  7, 14, 11, 12,  4, 11,  2, 15,  8,  1,
        13,  1,  6, 10,  4, 13,  9,  0,  8,  6, 15,  9,  3,  8,  0,  7,
        11,  4,  1, 15,  2, 14, 12,  3,  5, 11, 10,  5, 14,  2,  7, 12,
    ],
    [
         7, 13, 13,  8, 14, 11,  3,  5,  0,  6,  6, 15,  9,  0, 10,  3,
         1,  4,  2,  7,  8,  2,  5, 12, 11,  1, 12, 10,  4, 14, 15,  9,
        10,  3,  6, 15,  9,  0,  0,  6, 12, 10, 11,  1,  7, 13, 13,  8,
        15,  9,  1,  4,  3,  5, 14, 11,  5, 12,  2,  7,  8,  2,  4, 14,
    ],
    [
         2, 14, 12, 11,  4,  2,  1, 12,  7,  4, 10,  7, 11, 13,  6,  1,
         8,  5,  5,  0,  3, 15, 15, 10, 13,  3,  0,  9, 14,  8,  9,  6,
         4, 11,  2,  8,  1, 12, 11,  7, 10,  1, 13, 14,  7,  2,  8, 13,
        15,  6,  9, 15, 12,  0,  5,  9,  6, 10,  3,  4,  0,  5, 14,  3,
    ],
    [
        12, 10,  1, 15, 10,  4, 15,  2,  9,  7,  2, 12,  6,  9,  8,  5,
         0,  6, 13,  1,  3, 13,  4, 14, 14,  0,  7, 11,  5,  3, 11,  8,
         9,  4, 14,  3, 15,  2,  5, 12,  2,  9,  8,  5, 12, 15,  3, 10,
         7, 11,  0, 14,  4,  1, 10,  7,  1,  6, 13,  0, 11,  8,  6, 13,
    ],
    [
         4, 13, 11,  0,  2, 11, 14,  7, 15,  4,  0,  9,  8,  1, 13, 10,
         3, 14, 12,  3,  9,  5,  7, 12,  5,  2, 10, 15,  6,  8,  1,  6,
         1,  6,  4, 11, 11, 13, 13,  8, 12,  1,  3,  4,  7, 10, 14,  7,
        10,  9, 15,  5,  6,  0,  8, 15,  0, 14,  5,  2,  9,  3,  2, 12,
    ],
    [
        13,  1,  2, 15,  8, 13,  4,  8,  6, 10, 15,  3, 11,  7,  1,  4,
        10, 12,  9,  5,  3,  6, 14, 11,  5,  0,  0, 14, 12,  9,  7,  2,
         7,  2, 11,  1,  4, 14,  1,  7,  9,  4, 12, 10, 14,  8,  2, 13,
         0, 15,  6, 12, 10,  9, 13,  0, 15,  3,  3,  5,  5,  6,  8, 11,
    ],
];

/// Swap bits in `a` using a delta swap
fn delta_swap(a: u64, delta: u64, mask: u64) -> u64 {
    let b = (a ^ (a >> delta)) & mask;
    a ^ b ^ (b << delta)
}

/// Swap bits using the PC-1 table
fn pc1(mut key: u64) -> u64 {
    key = delta_swap(key, 2, 0x3333000033330000);
    key = delta_swap(key, 4, 0x0f0f0f0f00000000);
    key = delta_swap(key, 8, 0x009a000a00a200a8);
    key = delta_swap(key, 16, 0x00006c6c0000cccc);
    key = delta_swap(key, 1, 0x1045500500550550);
    key = delta_swap(key, 32, 0x00000000f0f0f5fa);
    key = delta_swap(key, 8, 0x00550055006a00aa);
    key = delta_swap(key, 2, 0x0000333330000300);
    key & 0xFFFFFFFFFFFFFF00
}

/// Swap bits using the PC-2 table
fn pc2(key: u64) -> u64 {
    let key = key.rotate_left(61);
    let b1 = (key & 0x0021000002000000) >> 7;
    let b2 = (key & 0x0008020010080000) << 1;
    let b3 = key & 0x0002200000000000;
    let b4 = (key & 0x0000000000100020) << 19;
    let b5 = (key.rotate_left(54) & 0x0005312400000011).wrapping_mul(0x0000000094200201)
        & 0xea40100880000000;
    let b6 = (key.rotate_left(7) & 0x0022110000012001).wrapping_mul(0x0001000000610006)
        & 0x1185004400000000;
    let b7 = (key.rotate_left(6) & 0x0000520040200002).wrapping_mul(0x00000080000000c1)
        & 0x0028811000200000;
    let b8 = (key & 0x01000004c0011100).wrapping_mul(0x0000000000004284) & 0x0400082244400000;
    let b9 = (key.rotate_left(60) & 0x0000000000820280).wrapping_mul(0x0000000000089001)
        & 0x0000000110880000;
    let b10 = (key.rotate_left(49) & 0x0000000000024084).wrapping_mul(0x0000000002040005)
        & 0x000000000a030000;
    b1 | b2 | b3 | b4 | b5 | b6 | b7 | b8 | b9 | b10
}

/// Swap bits using the reverse FP table
fn fp(mut message: u64) -> u64 {
    message = delta_swap(message, 24, 0x000000FF000000FF);
    message = delta_swap(message, 24, 0x00000000FF00FF00);
    message = delta_swap(message, 36, 0x000000000F0F0F0F);
    message = delta_swap(message, 18, 0x0000333300003333);
    delta_swap(message, 9, 0x0055005500550055)
}

/// Swap bits using the IP table
fn ip(mut message: u64) -> u64 {
    message = delta_swap(message, 9, 0x0055005500550055);
    message = delta_swap(message, 18, 0x0000333300003333);
    message = delta_swap(message, 36, 0x000000000F0F0F0F);
    message = delta_swap(message, 24, 0x00000000FF00FF00);
    delta_swap(message, 24, 0x000000FF000000FF)
}

/// Swap bits using the P table
const fn p(block: u64) -> u64 {
    let block = block.rotate_left(44);
    let b1 = (block & 0x0000000000200000) << 32;
    let b2 = (block & 0x0000000000480000) << 13;
    let b3 = (block & 0x0000088000000000) << 12;
    let b4 = (block & 0x0000002020120000) << 25;
    let b5 = (block & 0x0000000442000000) << 14;
    let b6 = (block & 0x0000000001800000) << 37;
    let b7 = (block & 0x0000000004000000) << 24;
    let b8 = (block & 0x0000020280015000).wrapping_mul(0x0000020080800083) & 0x02000a6400000000;
    let b9 = (block.rotate_left(29) & 0x01001400000000aa).wrapping_mul(0x0000210210008081)
        & 0x0902c01200000000;
    let b10 = (block & 0x0000000910040000).wrapping_mul(0x0000000c04000020) & 0x8410010000000000;
    b1 | b2 | b3 | b4 | b5 | b6 | b7 | b8 | b9 | b10
}

/// Generate the 16 subkeys
fn gen_keys(key: u64) -> [u64; 16] {
    let mut keys: [u64; 16] = [0; 16];
    let key = pc1(key);

    // The most significant bit is bit zero, and there are only 56 bits in
    // the key after applying PC1, so we need to remove the eight least
    // significant bits from the key.
    let key = key >> 8;

    let mut c = key >> 28;
    let mut d = key & 0x0FFFFFFF;
    for i in 0..16 {
        c = rotate(c, SHIFTS[i]);
        d = rotate(d, SHIFTS[i]);

        // We need the `<< 8` because the most significant bit is bit zero,
        // so we need to shift our 56 bit value 8 bits to the left.
        keys[i] = pc2(((c << 28) | d) << 8);
    }

    keys
}

fn rotate(mut val: u64, shift: u8) -> u64 {
    let top_bits = val >> (28 - shift);
    val <<= shift;

    (val | top_bits) & 0x0FFFFFFF
}

/// S-box i followed by P, for each 6-bit input.
const SP: [[u64; 64]; 8] = {
    let mut t = [[0u64; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut v = 0;
        while v < 64 {
            t[i][v] = p((SBOXES[i][v] as u64) << (60 - 4 * i));
            v += 1;
        }
        i += 1;
    }
    t
};

/// The SP tables narrowed to the 32 bits that the Feistel function yields.
const SP32: [[u32; 64]; 8] = {
    let mut t = [[0u32; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut v = 0;
        while v < 64 {
            t[i][v] = (SP[i][v] >> 32) as u32;
            v += 1;
        }
        i += 1;
    }
    t
};

/// Feistel function. With `rot = R >>> 1`, the E expansion's 6-bit group i is the top 6 bits of
/// `rot <<< 4i`: groups 0, 2, 4, 6 sit at bits 31..26, 23..18, 15..10, 7..2 of `rot`, groups 1, 3, 5, 7 at the
/// same places of `rot <<< 4`. The round key is pre-split into those two layouts (`ka`, `kb`).
#[inline(always)]
fn f(r: u32, ka: u32, kb: u32) -> u32 {
    let a = r.rotate_right(1) ^ ka;
    let b = r.rotate_left(3) ^ kb;
    SP32[0][(a >> 26) as usize & 0x3F]
        ^ SP32[2][(a >> 18) as usize & 0x3F]
        ^ SP32[4][(a >> 10) as usize & 0x3F]
        ^ SP32[6][(a >> 2) as usize & 0x3F]
        ^ SP32[1][(b >> 26) as usize & 0x3F]
        ^ SP32[3][(b >> 18) as usize & 0x3F]
        ^ SP32[5][(b >> 10) as usize & 0x3F]
        ^ SP32[7][(b >> 2) as usize & 0x3F]
}

/// The 16 round keys of one DES key, split for `f`. Zeroized on drop.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct Schedule {
    ka: [u32; 16],
    kb: [u32; 16],
}

impl Schedule {
    pub(crate) fn new(key: &[u8; 8]) -> Self {
        let mut keys = gen_keys(u64::from_be_bytes(*key));
        let mut ka = [0u32; 16];
        let mut kb = [0u32; 16];
        for (n, k) in keys.iter().enumerate() {
            // 6-bit group i of the 48-bit round key sits at bits 63-6i..58-6i.
            let g = |i: u32| ((k >> (58 - 6 * i)) & 0x3F) as u32;
            ka[n] = g(0) << 26 | g(2) << 18 | g(4) << 10 | g(6) << 2;
            kb[n] = g(1) << 26 | g(3) << 18 | g(5) << 10 | g(7) << 2;
        }
        zeroize::Zeroize::zeroize(&mut keys);
        Schedule { ka, kb }
    }

    /// 16 rounds forward, on a block already through IP; ends with the L/R swap.
    #[inline(always)]
    fn enc_rounds(&self, d: u64) -> u64 {
        let (mut l, mut r) = ((d >> 32) as u32, d as u32);
        for n in 0..16 {
            let t = l ^ f(r, self.ka[n], self.kb[n]);
            l = r;
            r = t;
        }
        ((r as u64) << 32) | l as u64
    }

    #[inline(always)]
    fn dec_rounds(&self, d: u64) -> u64 {
        let (mut l, mut r) = ((d >> 32) as u32, d as u32);
        for n in (0..16).rev() {
            let t = l ^ f(r, self.ka[n], self.kb[n]);
            l = r;
            r = t;
        }
        ((r as u64) << 32) | l as u64
    }
}

#[inline]
pub(crate) fn des_encrypt(k: &Schedule, block: u64) -> u64 {
    fp(k.enc_rounds(ip(block)))
}

#[inline]
pub(crate) fn des_decrypt(k: &Schedule, block: u64) -> u64 {
    fp(k.dec_rounds(ip(block)))
}

/// TDES-EDE: E(k3, D(k2, E(k1, x))) with one IP and one FP.
#[inline]
pub(crate) fn tdes_encrypt(k1: &Schedule, k2: &Schedule, k3: &Schedule, block: u64) -> u64 {
    fp(k3.enc_rounds(k2.dec_rounds(k1.enc_rounds(ip(block)))))
}

/// TDES-EDE decryption: D(k1, E(k2, D(k3, x))).
#[inline]
pub(crate) fn tdes_decrypt(k1: &Schedule, k2: &Schedule, k3: &Schedule, block: u64) -> u64 {
    fp(k1.dec_rounds(k2.enc_rounds(k3.dec_rounds(ip(block)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
    use proptest::prelude::*;

    proptest! {
        /// This core agrees with the RustCrypto `des` crate on random keys and blocks.
        #[test]
        fn matches_des_crate(k1 in any::<[u8; 8]>(), k2 in any::<[u8; 8]>(), k3 in any::<[u8; 8]>(), x in any::<[u8; 8]>()) {
            let s1 = Schedule::new(&k1);
            let s2 = Schedule::new(&k2);
            let s3 = Schedule::new(&k3);
            let xv = u64::from_be_bytes(x);

            let d = des::Des::new(&k1.into());
            let mut b = x.into();
            d.encrypt_block(&mut b);
            let want: [u8; 8] = b.into();
            prop_assert_eq!(des_encrypt(&s1, xv).to_be_bytes(), want);
            prop_assert_eq!(des_decrypt(&s1, des_encrypt(&s1, xv)), xv);
            let mut b = x.into();
            d.decrypt_block(&mut b);
            let want: [u8; 8] = b.into();
            prop_assert_eq!(des_decrypt(&s1, xv).to_be_bytes(), want);

            let mut key = [0u8; 24];
            key[..8].copy_from_slice(&k1);
            key[8..16].copy_from_slice(&k2);
            key[16..].copy_from_slice(&k3);
            let t = des::TdesEde3::new(&key.into());
            let mut b = x.into();
            t.encrypt_block(&mut b);
            let want: [u8; 8] = b.into();
            prop_assert_eq!(tdes_encrypt(&s1, &s2, &s3, xv).to_be_bytes(), want);
            let mut b = x.into();
            t.decrypt_block(&mut b);
            let want: [u8; 8] = b.into();
            prop_assert_eq!(tdes_decrypt(&s1, &s2, &s3, xv).to_be_bytes(), want);
        }
    }
}
