//! The exit-code contract, the same in every binary.

use std::process::ExitCode;

/// How a binary ends. The numbers are stable and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success (with `--detailed-exitcode`: and no changes).
    Success,
    /// 1: error: invalid input, refused (stale plan, destroy without flag), failed apply.
    Error,
    /// 2: success with changes present; only with `--detailed-exitcode`.
    Changes,
    /// 3: the changes were applied but an automatic revert is still armed on the target
    /// (`ros-render apply` could not remove its scheduled backup load): it undoes them at
    /// the time the error line names unless removed by hand. Never retried.
    RevertArmed,
    /// 64: usage error (clap's own 2 is remapped so a typo never reads as "changes").
    Usage,
    /// 75: transient failure (unreachable, timeout, 5xx): safe to retry.
    Transient,
    /// 130: interrupted.
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Error => 1,
            Self::Changes => 2,
            Self::RevertArmed => 3,
            Self::Usage => 64,
            Self::Transient => 75,
            Self::Interrupted => 130,
        }
    }

    /// The status of a successful plan: 2 when it has changes and `--detailed-exitcode` is set.
    #[must_use]
    pub fn for_plan(changes: usize, detailed: bool) -> Self {
        if detailed && changes > 0 {
            Self::Changes
        } else {
            Self::Success
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let table = [
            (ExitStatus::Success, 0),
            (ExitStatus::Error, 1),
            (ExitStatus::Changes, 2),
            (ExitStatus::RevertArmed, 3),
            (ExitStatus::Usage, 64),
            (ExitStatus::Transient, 75),
            (ExitStatus::Interrupted, 130),
        ];
        for (status, code) in table {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }

    #[test]
    fn plan_status() {
        assert_eq!(ExitStatus::for_plan(3, false), ExitStatus::Success);
        assert_eq!(ExitStatus::for_plan(3, true), ExitStatus::Changes);
        assert_eq!(ExitStatus::for_plan(0, true), ExitStatus::Success);
    }
}
