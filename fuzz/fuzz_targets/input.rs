#![no_main]
//! Whatever a user hands `thpcheck` (a command line, names, numbers, a token) is accepted or
//! refused in one line, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thp_checks::fuzz::input(data);
});
