//! Fuzz target for the sip decoders: any bytes in, no panic out; and every
//! message that parses survives encode then parse unchanged. The checks live
//! in `phonestorm_proto::sip::fuzz_roundtrip` so the crate's proptests run
//! the same code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    phonestorm_proto::sip::fuzz_roundtrip(data);
});
