//! The menus `/export` never prints: files, users, their SSH keys, certificates (passwords
//! and private keys are never shown).

use super::{MenuSpec, Ty, p, unexported};

/// The menus of this tree, in the order `/export` prints them.
pub(super) fn menus() -> Vec<MenuSpec> {
    vec![
        unexported(
            "/file",
            vec![
                p("name", Ty::Name).req(),
                p("type", Ty::Str).ro(),
                p("size", Ty::Str).ro(),
                p("creation-time", Ty::Str).ro(),
                p("contents", Ty::Str).d(""),
            ],
        ),
        // Users, their SSH keys and certificates are not configuration an export prints
        // (docs/reference/routeros-revert.md §1); passwords and private keys are never shown.
        unexported(
            "/user",
            vec![
                p("name", Ty::Name).req(),
                p("group", Ty::Enum(&["full", "read", "write"])).req(),
                p("password", Ty::Str).hidden(),
                p("address", Ty::Str).d(""),
                p("comment", Ty::Str),
                p("disabled", Ty::Bool).d("false"),
            ],
        ),
        unexported(
            "/user/ssh-keys",
            vec![
                p("user", Ty::Str).req(),
                p("key", Ty::Str).req(),
                p("key-owner", Ty::Str).ro(),
            ],
        ),
        unexported(
            "/certificate",
            vec![
                p("name", Ty::Name).req(),
                p("common-name", Ty::Str),
                p("fingerprint", Ty::Str).ro(),
                p("private-key", Ty::Bool).d("false").ro(),
                p("key", Ty::Str).ro().hidden(),
            ],
        ),
    ]
}
