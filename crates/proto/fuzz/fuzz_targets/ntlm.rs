//! Fuzz target for the NTLM messages: any bytes in, no panic out, and every
//! CHALLENGE / AUTHENTICATE message or AV pair list a parser accepts must
//! survive build-then-parse unchanged (the check is
//! `phonestorm_proto::ntlm::fuzz_roundtrip`, which a property test of the
//! crate also runs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(mismatch) = phonestorm_proto::ntlm::fuzz_roundtrip(data) {
        panic!("{mismatch}");
    }
});
