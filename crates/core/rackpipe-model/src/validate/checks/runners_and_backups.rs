//! The `runners` and `backups` sections: CI runners, their cache, backup jobs.

use super::{Checker, unique};

impl Checker<'_> {
    pub(super) fn runners_and_backups(&mut self) {
        if let Some(r) = &self.site.runners {
            self.check_export_ref("runners.cache.export".to_owned(), &r.cache.export);
            self.file_path("runners.cache.mountpoint".to_owned(), &r.cache.mountpoint);
            if let Some(p) = &r.cache.path {
                self.file_path("runners.cache.path".to_owned(), p);
            }
            unique(
                self.out,
                "runner name",
                r.runners
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("runners.runners[{i}].name"), x.name.as_str())),
            );
            for (i, x) in r.runners.iter().enumerate() {
                self.check_guest_ref(format!("runners.runners[{i}].guest"), &x.guest);
            }
        }
        if let Some(b) = &self.site.backups {
            for (name, job) in [("etcd", &b.etcd), ("router", &b.router)] {
                let Some(job) = job else { continue };
                self.check_export_ref(
                    format!("backups.{name}.destination.export"),
                    &job.destination.export,
                );
                let r = job.retention;
                if r.keep_last + r.daily + r.weekly + r.monthly == 0 {
                    self.err(
                        "retention",
                        format!("backups.{name}.retention"),
                        "keeps nothing; set keep_last or a daily/weekly/monthly count",
                    );
                }
            }
            if b.etcd.is_some() && self.site.kubernetes.is_none() {
                self.err(
                    "dangling-reference",
                    "backups.etcd",
                    "etcd backups need a kubernetes section (its masters run etcd)",
                );
            }
        }
    }
}
