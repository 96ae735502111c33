//! What every bench shares: sizes from the environment, the smoke-test
//! switch, and realistic (sparse) ids.

/// `GROWTHKIT_BENCH_*` overrides a size, for a quick look at smaller data.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether this run is a smoke test on small data: `cargo test --benches`
/// runs each bench once, passing no flag to a `harness = false` bench
/// (`--test` when run by hand); `cargo bench` passes `--bench`.
pub fn smoke() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// The full size, or the smoke test's, unless the environment says otherwise.
pub fn size(name: &str, full: usize, smoke_size: usize) -> usize {
    env_or(name, if smoke() { smoke_size } else { full })
}

/// Sparse, snowflake-like ids (a splitmix64 of `i`): a host's real ids are
/// rarely `0..n`, and dense ids would flatter hashing.
pub fn sparse(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
