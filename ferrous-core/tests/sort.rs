//! SORT and SORT_RO: replies recorded from Redis 7.0 (`support/sort.cases`: numeric and
//! ALPHA orders, strtod forms, BY/GET patterns on strings and hashes, `nosort` on every
//! type, STORE, the partial quicksort's order of ties, errors), model-based random tests,
//! and the typed API.
#[path = "support/cases.rs"]
mod cases;
#[path = "support/oracle.rs"]
mod oracle;

#[test]
fn replies_match_redis() {
    let failures = cases::replay(include_str!("support/sort.cases"));
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
