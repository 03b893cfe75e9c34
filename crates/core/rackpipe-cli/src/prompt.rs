//! The confirmation `apply` asks for when a person runs it without `--plan`.
//!
//! `TOOL apply` without `--plan` plans and applies in one go. When stdin and stderr are both
//! a terminal (a person at the keyboard) and `--auto-approve` is not given, it first shows the
//! plan on stderr (stdout keeps its one document) and asks; only the answer `yes` goes on, and
//! the plan shown is the one applied (apply refuses it if the site or the remote state moved
//! on meanwhile). Anything else ends the command with exit 1 and nothing changed. A plan with
//! no changes is not asked about.
//!
//! Not on a terminal (CI, a pipe, a site read from stdin) nothing is asked and nothing is
//! shown: apply behaves as it always has. In CI the reviewed plan is passed with `--plan`.

use std::io::{BufRead, IsTerminal as _, Write};

use rackpipe_model::documents::Plan;

use crate::CliError;
use crate::output::{self, Style};

/// The word that confirms.
pub const YES: &str = "yes";

/// Whether `apply` without `--plan` asks: stdin and stderr are terminals and `--auto-approve`
/// was not given.
#[must_use]
pub fn asks(auto_approve: bool) -> bool {
    !auto_approve && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Shows `plan` on stderr and asks on the terminal; `Ok` only for the answer `yes` (or a plan
/// without changes).
pub fn confirm(plan: &Plan) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut stderr = std::io::stderr().lock();
    ask(plan, Style::stderr(), &mut input, &mut stderr)
}

/// The dialogue itself, over any input and output (the unit tests drive it).
pub fn ask(
    plan: &Plan,
    style: Style,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if plan.changes.is_empty() {
        return Ok(());
    }
    let question = format!(
        "\n{}: apply these changes to site {}? Only '{YES}' goes on.\n  Enter a value: ",
        plan.tool, plan.site
    );
    out.write_all(output::plan(plan, style).as_bytes())
        .and_then(|()| out.write_all(question.as_bytes()))
        .and_then(|()| out.flush())
        .map_err(|e| CliError::error(format!("cannot ask for confirmation: {e}")))?;
    let mut answer = String::new();
    input
        .read_line(&mut answer)
        .map_err(|e| CliError::error(format!("cannot read the answer: {e}")))?;
    if answer.trim() == YES {
        let _ = out.write_all(b"\n");
        Ok(())
    } else {
        // The terminal shows no newline after an end of input (Ctrl-D).
        if !answer.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        Err(CliError::error(format!(
            "apply cancelled: the answer was not '{YES}'; nothing was changed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackpipe_model::documents::{Action, Change};

    fn plan(changes: usize) -> Plan {
        let change = Change {
            action: Action::Create,
            target: "pve1/101".into(),
            resource: "guest/web".into(),
            before: None,
            after: Some(serde_json::json!({"cores": 2})),
            diff: None,
            commands: Vec::new(),
        };
        Plan::new(
            "pve-sync",
            "lab",
            String::new(),
            String::new(),
            vec![change; changes],
        )
    }

    fn run(plan: &Plan, answer: &str) -> (Result<(), CliError>, String) {
        let mut out = Vec::new();
        let result = ask(plan, Style::PLAIN, &mut answer.as_bytes(), &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn only_yes_goes_on() {
        let (ok, shown) = run(&plan(1), "yes\n");
        ok.unwrap();
        assert_eq!(
            shown,
            "pve-sync: plan for site lab\n\n  + guest/web  (pve1/101)\n      cores: 2\n\n\
             pve-sync: 1 to create, 0 to update, 0 to delete.\n\n\
             pve-sync: apply these changes to site lab? Only 'yes' goes on.\n  Enter a value: \n"
        );
        for no in ["no\n", "y\n", "YES\n", "\n", ""] {
            let (err, _) = run(&plan(1), no);
            assert_eq!(
                err.unwrap_err().message,
                "apply cancelled: the answer was not 'yes'; nothing was changed",
                "{no:?}"
            );
        }
    }

    #[test]
    fn nothing_to_confirm_without_changes() {
        let (ok, shown) = run(&plan(0), "");
        ok.unwrap();
        assert_eq!(shown, "");
    }
}
