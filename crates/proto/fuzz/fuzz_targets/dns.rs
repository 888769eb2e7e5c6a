//! Fuzz target for the DNS codecs: any bytes in, no panic out, from the
//! phone's reader and the mock's server alike; and whatever query the mock
//! reads, its answer reads for the phone as the answer to that question.
//! The checks live in `phonestorm_proto::dns::fuzz_roundtrip`, which the
//! crate's property tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(disagreement) = phonestorm_proto::dns::fuzz_roundtrip(data) {
        panic!("{disagreement}");
    }
});
