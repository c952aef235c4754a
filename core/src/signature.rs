//! The electronic signature's image and its compression (docs/PROTOCOL.md §8.8): a 1-bit bitmap, rows of
//! `ceil(width / 8)` bytes, most significant bit first (1 = ink), compressed with PackBits run-length
//! encoding after a 4-byte header (width and height, big-endian u16). Signature strokes on a white pad are
//! long runs of `00` bytes, which PackBits folds into two bytes each.

/// Largest image accepted: 1,024 × 512 pixels.
pub const MAX_WIDTH: u16 = 1024;
pub const MAX_HEIGHT: u16 = 512;

/// A signature as the pad gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureImage {
    pub width: u16,
    pub height: u16,
    /// `height` rows of `ceil(width / 8)` bytes, MSB first, 1 = ink.
    pub bits: Vec<u8>,
}

impl std::fmt::Debug for SignatureImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SignatureImage({}x{}, {} bytes)",
            self.width,
            self.height,
            self.bits.len()
        )
    }
}

impl SignatureImage {
    /// Bytes per row.
    pub fn stride(width: u16) -> usize {
        usize::from(width).div_ceil(8)
    }

    /// The image's shape is valid: 1..=1024 × 1..=512, `bits` exactly `height` rows, some ink.
    pub fn check(&self) -> Result<(), String> {
        if self.width == 0 || self.width > MAX_WIDTH || self.height == 0 || self.height > MAX_HEIGHT
        {
            return Err(format!(
                "{}x{} is not within 1..={MAX_WIDTH} x 1..={MAX_HEIGHT}",
                self.width, self.height
            ));
        }
        let want = Self::stride(self.width) * usize::from(self.height);
        if self.bits.len() != want {
            return Err(format!(
                "{} bytes of bitmap for {}x{}, not {want}",
                self.bits.len(),
                self.width,
                self.height
            ));
        }
        if self.bits.iter().all(|b| *b == 0) {
            return Err("the image is blank".into());
        }
        Ok(())
    }
}

/// PackBits: a header byte n, then `0..=127`: n + 1 literal bytes follow; `-127..=-1` (as i8): the next byte
/// repeated 1 - n times; `-128` is never written.
fn pack_bits(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 + 8);
    let mut i = 0;
    while i < data.len() {
        let mut run = 1;
        while i + run < data.len() && run < 128 && data[i + run] == data[i] {
            run += 1;
        }
        if run >= 2 {
            out.push((1i16 - run as i16) as i8 as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        // Literals up to the next run of two or more.
        let start = i;
        while i < data.len() && i - start < 128 && !(i + 1 < data.len() && data[i + 1] == data[i]) {
            i += 1;
        }
        if i == start {
            // A single byte followed by its repeat: take the run on the next turn.
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&data[start..i]);
    }
    out
}

fn unpack_bits(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < data.len() {
        let n = data[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            let lit = data
                .get(i..i + len)
                .ok_or("literal run past the end of the data")?;
            out.extend_from_slice(lit);
            i += len;
        } else if n != -128 {
            let b = *data.get(i).ok_or("repeat run without its byte")?;
            out.resize(out.len() + (1 - n as isize) as usize, b);
            i += 1;
        }
        if out.len() > limit {
            return Err("more data than the image holds".into());
        }
    }
    Ok(out)
}

/// The compressed form: width and height (big-endian u16) and the PackBits of the bitmap.
pub fn compress(image: &SignatureImage) -> Result<Vec<u8>, String> {
    image.check()?;
    let mut out = Vec::with_capacity(image.bits.len() / 4 + 4);
    out.extend_from_slice(&image.width.to_be_bytes());
    out.extend_from_slice(&image.height.to_be_bytes());
    out.extend_from_slice(&pack_bits(&image.bits));
    Ok(out)
}

/// The image back from its compressed form, checked.
pub fn decompress(data: &[u8]) -> Result<SignatureImage, String> {
    if data.len() < 4 {
        return Err("shorter than its header".into());
    }
    let width = u16::from_be_bytes([data[0], data[1]]);
    let height = u16::from_be_bytes([data[2], data[3]]);
    let want = SignatureImage::stride(width) * usize::from(height);
    let bits = unpack_bits(&data[4..], want)?;
    let image = SignatureImage {
        width,
        height,
        bits,
    };
    image.check()?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stroke(width: u16, height: u16) -> SignatureImage {
        let stride = SignatureImage::stride(width);
        let mut bits = vec![0u8; stride * usize::from(height)];
        for x in 0..usize::from(width) {
            let y = (usize::from(height) / 2 + (x / 7) % 9) % usize::from(height);
            bits[y * stride + x / 8] |= 0x80 >> (x % 8);
        }
        SignatureImage {
            width,
            height,
            bits,
        }
    }

    #[test]
    fn a_signature_shrinks_and_comes_back() {
        let img = stroke(384, 128);
        let c = compress(&img).unwrap();
        assert!(
            c.len() * 5 < img.bits.len(),
            "{} of {}",
            c.len(),
            img.bits.len()
        );
        assert_eq!(decompress(&c).unwrap(), img);
    }

    #[test]
    fn bad_images_and_data_are_refused() {
        let mut img = stroke(100, 10);
        img.bits.pop();
        assert!(compress(&img).is_err());
        assert!(compress(&SignatureImage {
            width: 8,
            height: 1,
            bits: vec![0]
        })
        .is_err());
        assert!(compress(&stroke(2000, 10)).is_err());
        assert!(decompress(&[0, 8]).is_err());
        // A run longer than the image.
        assert!(decompress(&[0, 8, 0, 1, 0x81, 0xFF]).is_err());
        // A literal run past the end.
        assert!(decompress(&[0, 8, 0, 1, 0x05, 0xFF]).is_err());
    }

    proptest! {
        #[test]
        fn pack_bits_round_trips(data in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xFFu8), any::<u8>()], 0..600)) {
            let packed = pack_bits(&data);
            prop_assert_eq!(unpack_bits(&packed, data.len()).unwrap(), data);
        }
    }
}
