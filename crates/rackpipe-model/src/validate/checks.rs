use crate::{diagnostic::Diagnostic, site::Site};
pub(crate) fn run(_site: &Site, _doc: &serde_json::Value, _out: &mut Vec<Diagnostic>) {}
