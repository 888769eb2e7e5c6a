//! Fuzz target for the HTTP/1.1 reader: any bytes in, no panic out, as a
//! response head and as a chunked body; the chunked decoder gives the same
//! answer fed all at once and a byte at a time, and coded data reads back.
//! The checks live in `phonestorm_proto::http::fuzz_roundtrip`, which the
//! crate's property tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(disagreement) = phonestorm_proto::http::fuzz_roundtrip(data) {
        panic!("{disagreement}");
    }
});
