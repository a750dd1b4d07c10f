#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mxfs_fuzz::targets::remote(data);
});
