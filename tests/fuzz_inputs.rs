//! The fuzz targets for `partial.json` and `state.json` (`fuzz/src/inputs.rs`, included
//! here so the main suite builds and runs them on stable Rust): a bounded number of mutated
//! inputs each, from the targets' seeds; no input may panic (a panic fails the test, the
//! input in the message), and the seeds and their known tamperings land where they should.
//! `scripts/fuzz.sh` fuzzes the same functions for longer, coverage-guided where possible.

#[path = "../fuzz/src/inputs.rs"]
#[allow(dead_code)]
mod inputs;
use inputs::{partial, price_seeds, prices, seeds, state, InputOutcome, Rng};
use std::collections::BTreeMap;

const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "1023",
    "1024",
    "4294967296",
    "18446744073709551615",
    "1e308",
    "-0.0",
    "null",
    "true",
    "\"\"",
    "\"..\"",
    "\"/dev/zero\"",
    "\"../paths.parquet\"",
    "\"shard\"",
    "\"checkpoint\"",
    "[]",
    "{}",
    "[0]",
];

/// One to three mutations of `data`: a flipped bit, a changed digit, a JSON value swapped
/// for an extreme one, a deleted or doubled line, a truncation.
fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(3) {
        if d.is_empty() {
            break;
        }
        match rng.below(6) {
            0 => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => {
                let digits: Vec<usize> = (0..d.len()).filter(|&i| d[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let i = digits[rng.below(digits.len())];
                    d[i] = b'0' + rng.below(10) as u8;
                }
            }
            2 | 3 => {
                let mut lines: Vec<Vec<u8>> =
                    d.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let i = rng.below(lines.len());
                if let Some(at) = lines[i].windows(2).position(|w| w == b"\":") {
                    let comma = lines[i].ends_with(b",");
                    lines[i].truncate(at + 2);
                    lines[i].push(b' ');
                    lines[i].extend_from_slice(VALUES[rng.below(VALUES.len())].as_bytes());
                    if comma {
                        lines[i].push(b',');
                    }
                } else if rng.below(2) == 0 {
                    lines.remove(i);
                } else {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
                d = lines.join(&b'\n');
            }
            4 => {
                let i = rng.below(d.len());
                d.truncate(i);
            }
            _ => {
                let i = rng.below(d.len());
                d.insert(i, b"{}[],:\"0 "[rng.below(9)]);
            }
        }
    }
    d
}

/// Runs `target` over `iterations` mutated inputs; the outcomes seen, with counts.
fn fuzz(
    name: &str,
    target: fn(&[u8]) -> InputOutcome,
    seed: &[u8],
    iterations: usize,
) -> BTreeMap<InputOutcome, usize> {
    let mut rng = Rng(11);
    let mut outcomes = BTreeMap::new();
    for _ in 0..iterations {
        let input = mutate(&mut rng, seed);
        let r = std::panic::catch_unwind(|| target(&input));
        match r {
            Ok(o) => *outcomes.entry(o).or_insert(0) += 1,
            Err(_) => panic!(
                "{name}: an input panicked:\n{}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    let accepted: usize = outcomes
        .iter()
        .filter(|(o, _)| matches!(o, InputOutcome::Accepted(_)))
        .map(|(_, n)| n)
        .sum();
    println!(
        "{name}: {iterations} executions, {accepted} accepted, {} distinct outcomes",
        outcomes.len()
    );
    outcomes
}

#[test]
fn partial_and_state_parsing_survive_mutated_inputs() {
    let seeds = seeds();
    let seed = |n: &str| seeds.iter().find(|(k, _)| *k == n).unwrap().1.clone();
    let (p, st) = (seed("partial"), seed("state"));
    // The seeds are accepted as what they are, and refused as the other.
    assert_eq!(partial(&p), InputOutcome::Accepted("shard"));
    assert_eq!(state(&st), InputOutcome::Accepted("checkpoint"));
    assert!(matches!(partial(&st), InputOutcome::Rejected(_)));
    assert!(matches!(state(&p), InputOutcome::Rejected(_)));
    // A name that leaves the folder is refused by both.
    let text = String::from_utf8(p.clone()).unwrap();
    let bad = text.replace("\"paths.parquet\"", "\"../paths.parquet\"");
    assert_ne!(bad, text);
    assert!(
        matches!(partial(bad.as_bytes()), InputOutcome::Rejected(m) if m.contains("paths_files"))
    );

    for (name, target, input) in [
        ("partial", partial as fn(&[u8]) -> InputOutcome, &p),
        ("state", state, &st),
    ] {
        let seen = fuzz(name, target, input, 3000);
        let rejections = seen
            .keys()
            .filter(|o| matches!(o, InputOutcome::Rejected(_)))
            .count();
        // Mutations reach more than one check (not all stopped at the JSON syntax).
        assert!(
            rejections >= 5,
            "{name}: only {rejections} kinds of rejection: {seen:?}"
        );
    }
}

#[test]
fn price_files_survive_mutated_inputs() {
    for (i, (_, seed)) in price_seeds().iter().enumerate() {
        assert!(
            matches!(prices(seed), InputOutcome::Accepted(_)),
            "seed {i} refused"
        );
        let seen = fuzz("prices", prices, seed, 2000);
        let accepted = seen
            .iter()
            .filter(|(o, _)| matches!(o, InputOutcome::Accepted(_)))
            .count();
        let rejections = seen.len() - accepted;
        // Mutations reach both outcomes and more than one check.
        assert!(accepted >= 1 && rejections >= 3, "seed {i}: {seen:?}");
    }
}
