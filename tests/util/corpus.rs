//! What the tests feed the binary: deterministic random payloads, and the
//! bad-address cases `send` and `serve` must both refuse, kept as plain text
//! in `tests/data/bad_addresses.txt` so that a new case is one line.

/// Deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Where [`bad_addresses`] reads its cases, for failure messages.
const BAD_ADDRESSES: &str = "tests/data/bad_addresses.txt";

/// The bad-address corpus of [`BAD_ADDRESSES`]: each case's arguments (flags
/// first, the address last) and the exact stderr line it must give with exit 2
/// (SPEC §2). `send` and `serve` share the grammar, so both run every case.
pub fn bad_addresses() -> Vec<(Vec<String>, String)> {
    let cases: Vec<(Vec<String>, String)> = include_str!("../data/bad_addresses.txt")
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(i, line)| {
            let (args, stderr) = line.split_once('\t').unwrap_or_else(|| {
                panic!(
                    "{BAD_ADDRESSES}:{}: no tab between ARGS and the stderr line: {line:?}",
                    i + 1
                )
            });
            let args = args
                .split(' ')
                .map(|arg| if arg == "\"\"" { "" } else { arg }.to_string())
                .collect();
            (args, stderr.to_string())
        })
        .collect();
    assert!(!cases.is_empty(), "{BAD_ADDRESSES} has no cases");
    cases
}

/// Every long option of every subcommand that takes a value, from clap
/// itself: (subcommand, `--long`, value name). Tests that must cover every
/// flag of a kind filter this, so a new flag cannot be missed.
pub fn value_flags() -> Vec<(String, String, String)> {
    use clap::CommandFactory;
    let cli = echokit::cli::Cli::command();
    let mut found = Vec::new();
    for sub in cli.get_subcommands() {
        for arg in sub.get_arguments() {
            let (Some(long), Some(names)) = (arg.get_long(), arg.get_value_names()) else {
                continue;
            };
            found.push((
                sub.get_name().to_string(),
                format!("--{long}"),
                names[0].to_string(),
            ));
        }
    }
    found
}
