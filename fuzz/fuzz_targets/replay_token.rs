#![no_main]
//! Any byte string handed to `thpcheck replay` is either a valid token or a clean error.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thp_checks::fuzz::replay_token(data);
});
