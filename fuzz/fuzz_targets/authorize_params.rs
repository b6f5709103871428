#![no_main]
//! See sesame::fuzzing::authorize_params for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: sesame_fuzz_seeds("authorize_params"),
    |data: &[u8]| sesame::fuzzing::authorize_params(data)
);

/// With SESAME_FUZZ_SEEDS=DIR, writes the target's seed inputs into DIR first.
fn sesame_fuzz_seeds(target: &str) {
    if let Some(dir) = std::env::var_os("SESAME_FUZZ_SEEDS") {
        sesame::fuzzing::write_seeds(target, std::path::Path::new(&dir));
    }
}
