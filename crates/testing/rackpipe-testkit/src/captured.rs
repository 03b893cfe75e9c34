//! An in-memory writer for tests that read back what was logged or shown as progress.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// A clonable in-memory sink: every clone appends to the same buffer, so one clone can be
/// handed to a `tracing` layer (`move || sink.clone()`) while the test keeps another and reads
/// it back with [`Captured::text`].
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far, as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
