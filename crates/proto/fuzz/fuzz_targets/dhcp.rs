//! Fuzz target for the dhcp decoders: any bytes in, no panic out; whatever
//! decodes (a whole message, option 120, option 43 in both vendor layouts)
//! must encode and decode again to the same value. The body lives in
//! `phonestorm_proto::dhcp::fuzz_roundtrip` so a proptest runs exactly this.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = phonestorm_proto::dhcp::fuzz_roundtrip(data) {
        panic!("{e}");
    }
});
