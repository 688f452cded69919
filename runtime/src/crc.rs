//! The CRC-32 (IEEE) of torq and sinkgen frames, computed in one place for the
//! framings that write frames and the protocol that writes control frames.

/// A fresh CRC32 hasher, cloned from one made once: `Hasher::new` looks up the CPU's
/// features every time, a noticeable part of the cost of a small frame's CRC.
pub(crate) fn crc_hasher() -> crc32fast::Hasher {
    static PROTO: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    PROTO.get_or_init(crc32fast::Hasher::new).clone()
}

/// CRC-32 of `head` then the body of `frame` (a frame whose header, of
/// `head.len() + 4` bytes, ends with a 4-byte checksum field), in one pass: `head` is
/// written for the while right before the body (over the header's last bytes), so
/// the bytes to hash are one contiguous run. The caller then writes the header at its
/// place; the header's bytes are garbage until it does.
///
/// One pass instead of two `update`s (or moving the body) is what makes a small
/// frame's checksum cheap: crc32fast folds 16 bytes per carry-less multiply, and each
/// `update` pays a set-up, a final reduction and a partial block of its own.
pub(crate) fn crc_before_body<const N: usize>(frame: &mut [u8], head: &[u8; N]) -> u32 {
    let from = 4;
    frame[from..from + N].copy_from_slice(head);
    let mut crc = crc_hasher();
    crc.update(&frame[from..]);
    crc.finalize()
}
