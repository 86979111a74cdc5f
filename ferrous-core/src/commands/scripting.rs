//! Scripting commands, forwarded to the installed [`ScriptEngine`](crate::scripting::ScriptEngine):
//! EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO SCRIPT ... FUNCTION ...
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::scripting::ScriptCall;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("eval", forward),
    ("evalsha", forward),
    ("eval_ro", forward),
    ("evalsha_ro", forward),
    ("fcall", forward),
    ("fcall_ro", forward),
    ("script|load", forward),
    ("script|exists", forward),
    ("script|flush", forward),
    ("script|kill", forward),
    ("script|help", forward),
    ("script|debug", forward),
    ("function|load", forward),
    ("function|delete", forward),
    ("function|list", forward),
    ("function|flush", forward),
    ("function|dump", forward),
    ("function|restore", forward),
    ("function|stats", forward),
    ("function|kill", forward),
    ("function|help", forward),
];

/// Hands the command to the scripting engine.
fn forward(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(engine) = ctx.db.script_engine() else {
        return Err(Error::msg("ERR scripting is not available: no script engine installed"));
    };
    let held = ctx.access.is_held();
    // The script's commands are checked against its caller's ACL user.
    let _acl_scope = (!ctx.client.acl.unrestricted()).then(|| crate::acl::ScriptScope::enter(ctx.client, ctx.spec));
    engine.command(ScriptCall { db: ctx.db, client: ctx.client, args: ctx.args, out: ctx.out.buf(), held })
}
