//! `vault-bootstrap`: initialise, unseal and configure the site's Vault (or OpenBao) cluster.
//!
//! A thin binary: the shared driver runs [`rackpipe_vault_bootstrap::tool::VaultBootstrap`]
//! (the flags, the `Tool` impl and the tool's own verbs `init`, `unseal`, `status`);
//! `rackpipe-vault-bootstrap` does the work. Unseal keys and tokens only ever travel through
//! files, environment variables and the API: they are never printed, logged or put in an
//! error message.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_vault_bootstrap::tool::VaultBootstrap>()
}
