//! The imported site as YAML: the one writer, [`rackpipe_model::site_yaml`] (shared with the
//! other tools' `import` verbs).

pub(crate) use rackpipe_model::site_yaml::write;
