//! Script flags (`#!lua flags=no-writes,allow-oom`) and the shebang line of EVAL scripts.

/// The flags a script or function declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// `no-writes`: the script only reads (may run with EVAL_RO / FCALL_RO).
    pub no_writes: bool,
    /// `allow-oom`: may run when used memory is over `maxmemory`.
    pub allow_oom: bool,
    /// `allow-stale`: may run on a stale replica.
    pub allow_stale: bool,
    /// `no-cluster`: refuses to run in cluster mode.
    pub no_cluster: bool,
    /// `allow-cross-slot-keys`: may touch keys of several slots.
    pub allow_cross_slot_keys: bool,
    /// A script without a shebang (Redis's `EVAL_COMPAT_MODE`): none of the above apply and
    /// writes are decided per command.
    pub eval_compat: bool,
}

/// Flag names in Redis's order (FUNCTION LIST prints them in this order).
pub(crate) const FLAG_NAMES: [&str; 5] =
    ["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"];

impl ScriptFlags {
    /// Sets the flag called `name` (exact, case-sensitive unless `nocase`); false if unknown.
    pub(crate) fn set(&mut self, name: &[u8], nocase: bool) -> bool {
        let eq = |n: &str| if nocase { name.eq_ignore_ascii_case(n.as_bytes()) } else { name == n.as_bytes() };
        if eq("no-writes") {
            self.no_writes = true;
        } else if eq("allow-oom") {
            self.allow_oom = true;
        } else if eq("allow-stale") {
            self.allow_stale = true;
        } else if eq("no-cluster") {
            self.no_cluster = true;
        } else if eq("allow-cross-slot-keys") {
            self.allow_cross_slot_keys = true;
        } else {
            return false;
        }
        true
    }

    /// The names of the flags that are set, in Redis's order.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        let on = [self.no_writes, self.allow_oom, self.allow_stale, self.no_cluster, self.allow_cross_slot_keys];
        FLAG_NAMES.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect()
    }
}

/// Redis's `sdssplitargs`: words separated by spaces, with "double" (C escapes, `\xHH`) and
/// 'single' quoted parts. `None` for unbalanced quotes or a quote not followed by a space.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok()?;
                    cur.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

/// The shebang of an EVAL script: its flags and where the Lua code starts (at the newline
/// ending the shebang, so that line numbers stay right). Errors are Redis's texts.
pub(crate) fn parse_eval_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags { eval_compat: true, ..Default::default() }, 0));
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {}", String::from_utf8_lossy(&parts[0])));
    }
    let mut flags = ScriptFlags::default();
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {}", String::from_utf8_lossy(p)));
        };
        if list.is_empty() {
            continue;
        }
        for f in list.split(|&c| c == b',') {
            if !flags.set(f, false) {
                return Err(format!("ERR Unexpected flag in script shebang: {}", String::from_utf8_lossy(f)));
            }
        }
    }
    Ok((flags, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert!(parse_eval_shebang(b"return 1").unwrap().0.eval_compat);
        let (f, at) = parse_eval_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(f.no_writes && f.allow_oom && !f.eval_compat);
        assert_eq!(at, 31);
        assert_eq!(parse_eval_shebang(b"#!lua").unwrap_err(), "ERR Invalid script shebang");
        assert_eq!(parse_eval_shebang(b"#!lua flags=\nx").unwrap().0, ScriptFlags::default());
        assert_eq!(
            parse_eval_shebang(b"#!lua flags=no-writes,,allow-oom\nx").unwrap_err(),
            "ERR Unexpected flag in script shebang: "
        );
        assert_eq!(parse_eval_shebang(b"#!luax\n").unwrap_err(), "ERR Unexpected engine in script shebang: #!luax");
        assert_eq!(parse_eval_shebang(b"#!lua name=x\n").unwrap_err(), "ERR Unknown lua shebang option: name=x");
    }

    #[test]
    fn splitting() {
        assert_eq!(split_args(b"  a  \"b c\" 'd'").unwrap(), vec![b"a".to_vec(), b"b c".to_vec(), b"d".to_vec()]);
        assert!(split_args(b"\"abc").is_none());
        assert!(split_args(b"\"a\"b").is_none());
    }
}
