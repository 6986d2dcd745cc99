//! File ids for schemas generated from a name.

/// A Cap'n Proto file id (`@0x…;`) derived from `seed` with FNV-1a, its bits spread by the
/// SplitMix64 finalizer, and bit 63 set as Cap'n Proto requires. The same seed always gives the
/// same id.
///
/// It is not the id of an actor's schema. `ays_hrd::schema_id` derives that one from the actor
/// name with SHA-256 behind a versioned prefix, so the two functions give different ids for the
/// same name; a schema converted from `schema.hrd` or made for a template carries the `ays-hrd`
/// id.
///
/// ```
/// let id = ays_schema::fnv_file_id("node.ovc");
/// assert_eq!(id, ays_schema::fnv_file_id("node.ovc"));
/// assert_ne!(id & (1 << 63), 0);
/// ```
pub fn fnv_file_id(seed: &str) -> u64 {
    // FNV-1a, then the SplitMix64 finalizer to spread the bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    h | (1 << 63)
}
