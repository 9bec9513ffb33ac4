//! A unified line diff of two scenario texts (`--- previous` / `+++ tonight`, hunks with three
//! lines of context), written beside a scenario whose file changed since the previous night.
//!
//! Hand-written rather than a crate: nothing in Cargo.lock diffs text (no `similar`), and a
//! scenario file is a few hundred lines, for which a longest-common-subsequence table over
//! the lines left once the common head and tail are cut is small. Above [`MAX_CELLS`] table
//! cells the changed middle is shown as removed then added whole: still a correct diff, just
//! not a minimal one.

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Largest LCS table (lines before times lines after, of the changed middle).
const MAX_CELLS: usize = 4_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Same,
    Del,
    Add,
}

/// The edit script from `a` to `b`: (op, index in a, index in b) per line.
fn script<'t>(a: &[&'t str], b: &[&'t str]) -> Vec<(Op, usize, usize)> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<(Op, usize, usize)> = (0..head).map(|i| (Op::Same, i, i)).collect();
    let (n, m) = (ma.len(), mb.len());
    if n.saturating_mul(m) > MAX_CELLS || n == 0 || m == 0 {
        out.extend((0..n).map(|i| (Op::Del, head + i, head)));
        out.extend((0..m).map(|j| (Op::Add, head + n, head + j)));
    } else {
        // lcs[i][j]: LCS length of ma[i..] and mb[j..].
        let w = m + 1;
        let mut lcs = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && ma[i] == mb[j] {
                out.push((Op::Same, head + i, head + j));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
                // Removals before additions, as `diff -u` shows them.
                out.push((Op::Del, head + i, head + j));
                i += 1;
            } else {
                out.push((Op::Add, head + i, head + j));
                j += 1;
            }
        }
    }
    let (ea, eb) = (a.len() - tail, b.len() - tail);
    out.extend((0..tail).map(|k| (Op::Same, ea + k, eb + k)));
    out
}

/// The unified diff of `before` and `after` (empty when the lines are the same), with
/// `before_name` / `after_name` in its header.
pub fn unified(before: &str, after: &str, before_name: &str, after_name: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let ops = script(&a, &b);
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != Op::Same).collect();
    if changed.is_empty() {
        return String::new();
    }
    let mut out = format!("--- {before_name}\n+++ {after_name}\n");
    // Hunks: runs of changes closer than 2 * CONTEXT lines merged, with context each side.
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k + 1 < changed.len() && changed[k + 1] <= end + 2 * CONTEXT + 1 {
            k += 1;
            end = changed[k];
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        let a_len = hunk.iter().filter(|o| o.0 != Op::Add).count();
        let b_len = hunk.iter().filter(|o| o.0 != Op::Del).count();
        let a_start = hunk[0].1 + usize::from(a_len > 0);
        let b_start = hunk[0].2 + usize::from(b_len > 0);
        out.push_str(&format!("@@ -{a_start},{a_len} +{b_start},{b_len} @@\n"));
        for &(op, i, j) in hunk {
            match op {
                Op::Same => out.push_str(&format!(" {}\n", a[i])),
                Op::Del => out.push_str(&format!("-{}\n", a[i])),
                Op::Add => out.push_str(&format!("+{}\n", b[j])),
            }
        }
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_in_context() {
        let a = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let b = "a\nb\nc\nd\nE\nf\ng\nh\n";
        assert_eq!(
            unified(a, b, "old", "new"),
            "--- old\n+++ new\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
        assert_eq!(unified(a, a, "old", "new"), "");
    }

    #[test]
    fn additions_deletions_and_far_apart_hunks() {
        let a: String = (0..30).map(|i| format!("l{i}\n")).collect();
        let b = a.replace("l2\n", "").replace("l25\n", "l25\nnew\n");
        let d = unified(&a, &b, "old", "new");
        assert_eq!(d.matches("@@ ").count(), 2, "{d}");
        assert!(d.contains("\n-l2\n") && d.contains("\n+new\n"), "{d}");
        assert!(d.contains("@@ -1,6 +1,5 @@"), "{d}");
        assert!(d.contains("@@ -24,6 +23,7 @@"), "{d}");
        // Everything new.
        assert_eq!(
            unified("", "x\n", "o", "n"),
            "--- o\n+++ n\n@@ -0,0 +1,1 @@\n+x\n"
        );
    }
}
