//! Start-up configuration: `ferrous-server [config-file] [--directive value ...]`.
//!
//! Same conventions as redis-server: the optional first argument is a redis.conf file (`-`
//! reads standard input); every `--name` starts a directive whose arguments run until the
//! next `--name`; command-line directives are applied after the file's.
use ferrous_core::acl::ConfigUser;
use ferrous_core::Config;

/// Directives of Redis 7.0 that Ferrous accepts in a config file but does not act on; they
/// are logged, not fatal, so an existing redis.conf keeps working.
pub const IGNORED_REDIS_DIRECTIVES: &[&str] = &[
    "activedefrag",
    "active-defrag-cycle-max",
    "active-defrag-cycle-min",
    "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "activerehashing",
    "always-show-logo",
    "aof-load-truncated",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "appenddirname",
    "auto-aof-rewrite-min-size",
    "auto-aof-rewrite-percentage",
    "bind-source-addr",
    "cluster-enabled",
    "cluster-config-file",
    "cluster-node-timeout",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "disable-thp",
    "enable-debug-command",
    "enable-module-command",
    "enable-protected-configs",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "hll-sparse-max-bytes",
    "ignore-warnings",
    "io-threads-do-reads",
    "jemalloc-bg-thread",
    "lazyfree-lazy-user-del",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-max-ziplist-size",
    "locale-collate",
    "lua-replicate-commands",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "no-appendfsync-on-rewrite",
    "oom-score-adj",
    "oom-score-adj-values",
    "propagation-error-behavior",
    "rdb-del-sync-files",
    "rdb-key-save-delay",
    "rdb-save-incremental-fsync",
    "rdbchecksum",
    "rdbcompression",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-timeout",
    "replica-announce-ip",
    "replica-announce-port",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "replica-priority",
    "replica-read-only",
    "replica-serve-stale-data",
    "set-proc-title",
    "proc-title-template",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "shutdown-timeout",
    "slave-read-only",
    "slave-serve-stale-data",
    "socket-mark-id",
    "stop-writes-on-bgsave-error",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "supervised",
    "syslog-enabled",
    "syslog-facility",
    "syslog-ident",
    "tcp-keepalive",
    "tls-port",
    "tracking-table-max-keys",
    "unixsocket",
    "unixsocketperm",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "rename-command",
    "include",
    "sanitize-dump-payload",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "cluster-port",
    "client-output-buffer-limit",
];

/// A configuration error, formatted like redis-server's fatal config error.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fatal(line_no: usize, line: &str, why: &str) -> ConfigError {
    ConfigError(format!(
        "\n*** FATAL CONFIG FILE ERROR (Ferrous {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
        env!("CARGO_PKG_VERSION"),
        line_no,
        line,
        why
    ))
}

/// Applies redis.conf text to `config`. Line numbers in errors count from `first_line`.
pub fn apply_text(
    config: &mut Config,
    text: &str,
    first_line: usize,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    apply_lines(config, &mut Vec::new(), text, first_line, warnings)
}

/// [`apply_text`], collecting the `user` lines (validated as Redis does when it reads them;
/// they are loaded once the server is up, see `ferrous_core::acl::load_startup`).
fn apply_lines(
    config: &mut Config,
    users: &mut Vec<ConfigUser>,
    text: &str,
    first_line: usize,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = ferrous_resp::split_line(line.as_bytes())
            .map_err(|_| fatal(first_line + i, line, "Unbalanced quotes in configuration line"))?;
        let Some((name, args)) = words.split_first() else { continue };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if name == "user" && !args.is_empty() {
            let user =
                ferrous_core::acl::parse_config_user(&words, users).map_err(|e| fatal(first_line + i, line, &e))?;
            users.push(user);
            continue;
        }
        let args: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let arg_refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        if ferrous_core::config::directive(&name).is_none() {
            if IGNORED_REDIS_DIRECTIVES.contains(&name.as_str()) {
                warnings.push(format!("Ignoring unsupported directive '{}' at line {}", name, first_line + i));
                continue;
            }
            return Err(fatal(first_line + i, line, "Bad directive or wrong number of arguments"));
        }
        if arg_refs.is_empty() {
            return Err(fatal(first_line + i, line, "wrong number of arguments"));
        }
        config.set(&name, &arg_refs, true).map_err(|e| {
            let msg = e.to_string();
            let why = msg.split(" - ").nth(1).unwrap_or("Invalid argument").to_string();
            fatal(first_line + i, line, &why)
        })?;
    }
    Ok(())
}

/// Builds the configuration from redis-server-style command-line arguments.
pub fn from_args(args: &[String], warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
    from_args_with_users(args, warnings).map(|(config, _)| config)
}

/// [`from_args`], with the `user` lines of the configuration (ACL users to create at
/// start-up).
pub fn from_args_with_users(
    args: &[String],
    warnings: &mut Vec<String>,
) -> Result<(Config, Vec<ConfigUser>), ConfigError> {
    let mut config = Config::default();
    let mut users = Vec::new();
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            let text = if first == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| ConfigError(format!("Can't read config from stdin: {e}")))?
            } else {
                std::fs::read_to_string(first)
                    .map_err(|e| ConfigError(format!("Fatal error, can't open config file '{first}': {e}")))?
            };
            apply_lines(&mut config, &mut users, &text, 1, warnings)?;
            if first != "-" {
                config.set_file(std::path::Path::new(first));
            }
            rest = &args[1..];
        }
    }
    // Turn `--port 6380 --save ''` into redis.conf lines, quoting every argument.
    let mut text = String::new();
    for a in rest {
        if let Some(name) = a.strip_prefix("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(name);
        } else {
            if text.is_empty() {
                return Err(ConfigError(format!(
                    "Invalid argument '{a}': directives on the command line start with --"
                )));
            }
            text.push_str(" \"");
            for c in a.chars() {
                match c {
                    '"' => text.push_str("\\\""),
                    '\\' => text.push_str("\\\\"),
                    '\n' => text.push_str("\\n"),
                    c => text.push(c),
                }
            }
            text.push('"');
        }
    }
    apply_lines(&mut config, &mut users, &text, 1, warnings)?;
    Ok((config, users))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }
    #[test]
    fn command_line() {
        let mut w = vec![];
        let c = from_args(&args(&["--port", "6380", "--save", "", "--appendonly", "no", "--maxmemory", "1gb"]), &mut w)
            .unwrap();
        assert_eq!(c.get("port"), Some("6380"));
        assert_eq!(c.get("save"), Some(""));
        assert_eq!(c.get("maxmemory"), Some("1073741824"));
    }
    #[test]
    fn user_lines_are_collected_and_validated() {
        let (_, users) =
            from_args_with_users(&args(&["--user", "bob", "on", ">pw", "(~k*", "+get)"]), &mut vec![]).unwrap();
        assert_eq!(users, vec![vec![b"bob".to_vec(), b"on".to_vec(), b">pw".to_vec(), b"(~k* +get)".to_vec()]]);
        // Redis names the word at the failing rule's index among the rules (7.0.15's quirk).
        let err =
            apply_lines(&mut Config::default(), &mut Vec::new(), "user bob on badrule\n", 1, &mut vec![]).unwrap_err();
        assert!(err.0.ends_with("Error in user declaration 'bob': Syntax error"), "{}", err.0);
    }

    #[test]
    fn bad_directive_names_line() {
        let mut c = Config::default();
        let err = apply_text(&mut c, "port 1\n\nfrobnicate yes\n", 1, &mut vec![]).unwrap_err();
        assert!(err.0.contains("at line 3"), "{}", err.0);
        assert!(err.0.contains(">>> 'frobnicate yes'"));
        let err = apply_text(&mut c, "port notanumber\n", 1, &mut vec![]).unwrap_err();
        assert!(err.0.contains("at line 1"));
    }
}
