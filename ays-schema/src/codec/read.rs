//! The owning half of the decoder: message bytes → [`Record`], through the views of `view`.

use super::{Bx, Codec, Encoding};
use crate::value::Record;

impl Codec {
    pub(super) fn decode_boxed(&self, bytes: &[u8], encoding: Encoding) -> Result<Record, Bx> {
        tracing::trace!(
            struct_name = self.struct_name(),
            len = bytes.len(),
            ?encoding,
            "decoding record"
        );
        self.read_boxed(bytes, encoding)?.root_boxed()?.record()
    }
}
