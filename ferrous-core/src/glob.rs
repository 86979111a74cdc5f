//! Glob matching with Redis's `stringmatchlen` rules, shared by KEYS, SCAN MATCH,
//! CONFIG GET and pub/sub patterns.
//!
//! `*` any run, `?` one byte, `[abc]` `[^abc]` `[a-z]` classes, `\x` a literal `x`.

/// True if `s` matches `pattern`; `nocase` folds ASCII case.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    // Redis bounds recursion on `*`; an iterative backtracking matcher needs no bound and is
    // linear in practice (only the most recent `*` is backtracked).
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let eq = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' if i < s.len() => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' if i < s.len() => {
                    let (matched, next) = class_match(pattern, p + 1, s[i], nocase);
                    if matched {
                        p = next;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && i < s.len() && eq(pattern[p + 1], s[i]) => {
                    p += 2;
                    i += 1;
                    continue;
                }
                c if i < s.len() && c != b'?' && c != b'[' && (c != b'\\' || p + 1 == pattern.len()) && eq(c, s[i]) => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        } else if i == s.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more byte.
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches `c` against the class starting after `[` at `p`; returns (matched, index after
/// the closing `]`). An unterminated class extends to the end of the pattern, as in Redis.
fn class_match(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> (bool, usize) {
    let fold = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let c = fold(c);
    let not = pattern.get(p) == Some(&b'^');
    if not {
        p += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(p) {
            None => {
                // Redis steps back so the pattern ends at the last byte.
                break;
            }
            Some(b'\\') if p + 1 < pattern.len() => {
                p += 1;
                if fold(pattern[p]) == c {
                    matched = true;
                }
            }
            Some(b']') => {
                p += 1;
                break;
            }
            Some(&start) if pattern.get(p + 1) == Some(&b'-') && p + 2 < pattern.len() => {
                let end = pattern[p + 2];
                let (mut lo, mut hi) = (fold(start), fold(end));
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                if c >= lo && c <= hi {
                    matched = true;
                }
                p += 2;
            }
            Some(&x) => {
                if fold(x) == c {
                    matched = true;
                }
            }
        }
        p += 1;
    }
    (matched != not, p)
}

#[cfg(test)]
mod tests {
    use super::glob_match;
    #[test]
    fn redis_rules() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), false);
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(!m("\\a", "\\a"));
        assert!(m("a\\", "a\\"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*d", "xxaxxbxxcxx"));
        assert!(m("user:*:name", "user:42:name"));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
        assert!(!m(&"a*".repeat(30), &"a".repeat(100).replace('a', "b")));
    }
}
