//! Fuzz target for the soap codecs: any bytes in, no panic out, and every
//! message a parser accepts must survive build-then-parse unchanged (the
//! check itself is `phonestorm_proto::soap::fuzz_roundtrip`, which a
//! property test of the crate also runs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(mismatch) = phonestorm_proto::soap::fuzz_roundtrip(data) {
        panic!("{mismatch}");
    }
});
