//! Streaming exec: standard output is handed over as it arrives instead of being collected, so
//! a multi-gigabyte remote file can be read with bounded memory (russh's per-channel queue is
//! bounded, so a slow reader slows the sender down through the SSH window).

use std::fmt;

use russh::ChannelMsg;
use russh::client;

use crate::session::first_word;
use crate::{Error, Output, Session};

/// Stderr kept from a streaming command (the tail, for error messages).
const STREAM_STDERR_LIMIT: usize = 64 * 1024;

/// A remote command started with [`Session::exec_streaming`]: read its standard output piece
/// by piece with [`RemoteProcess::next_stdout`], then collect its exit status and standard
/// error with [`RemoteProcess::finish`].
pub struct RemoteProcess {
    channel: russh::Channel<client::Msg>,
    label: String,
    stderr: Vec<u8>,
    status: Option<u32>,
    closed: bool,
    stdout_done: bool,
}

impl fmt::Debug for RemoteProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteProcess")
            .field("host", &self.label)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl RemoteProcess {
    fn keep_stderr(&mut self, data: &[u8]) {
        self.stderr.extend_from_slice(data);
        if self.stderr.len() > STREAM_STDERR_LIMIT {
            let excess = self.stderr.len() - STREAM_STDERR_LIMIT;
            self.stderr.drain(..excess);
        }
    }

    /// The next piece of standard output, or `Ok(None)` once standard output has ended. Standard
    /// error is kept aside (its last 64 KiB) for [`RemoteProcess::finish`]. Has no timeout of its
    /// own: wrap it in [`tokio::time::timeout`] for an idle limit.
    ///
    /// # Errors
    /// None today (a dropped connection ends the output); the `Result` leaves room for
    /// transport errors.
    pub async fn next_stdout(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.stdout_done {
            return Ok(None);
        }
        while let Some(msg) = self.channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => return Ok(Some(data.to_vec())),
                ChannelMsg::ExtendedData { data, ext: 1 } => self.keep_stderr(&data),
                ChannelMsg::ExitStatus { exit_status } => self.status = Some(exit_status),
                ChannelMsg::Eof => {
                    self.stdout_done = true;
                    return Ok(None);
                }
                ChannelMsg::Close => {
                    self.closed = true;
                    self.stdout_done = true;
                    return Ok(None);
                }
                _ => {}
            }
        }
        self.closed = true;
        self.stdout_done = true;
        Ok(None)
    }

    /// Waits for the command to end (discarding any standard output not read yet) and returns
    /// its exit status and standard error; [`Output::stdout`] is empty. Wrap it in
    /// [`tokio::time::timeout`] for a limit.
    ///
    /// # Errors
    /// None today; see [`RemoteProcess::next_stdout`].
    pub async fn finish(mut self) -> Result<Output, Error> {
        while !self.closed {
            match self.channel.wait().await {
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => self.keep_stderr(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => self.status = Some(exit_status),
                Some(ChannelMsg::Close) | None => self.closed = true,
                Some(_) => {}
            }
        }
        Ok(Output {
            status: self.status,
            stdout: Vec::new(),
            stderr: std::mem::take(&mut self.stderr),
        })
    }

    /// `host:port` the command runs on.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.label
    }

    /// Closes the channel without waiting for the command (its output pipe closes, so a
    /// writing command gets `SIGPIPE`).
    pub async fn close(self) {
        let _ = self.channel.close().await;
    }
}

impl Session {
    /// Starts `command` (standard input closed at once) and returns a handle that reads its
    /// standard output as it arrives: memory stays bounded whatever the output size. Dropping
    /// the handle only stops reading (the remote command runs on until the session closes);
    /// [`RemoteProcess::close`] closes the channel.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the channel cannot be opened within the session's exec timeout;
    /// [`Error::Ssh`].
    pub async fn exec_streaming(&self, command: &str) -> Result<RemoteProcess, Error> {
        let ssh_err = |e: russh::Error| Error::Ssh {
            host: self.label.clone(),
            message: e.to_string(),
        };
        let start = async {
            let channel = self.handle.channel_open_session().await.map_err(ssh_err)?;
            channel.exec(true, command).await.map_err(ssh_err)?;
            channel.eof().await.map_err(ssh_err)?;
            Ok::<_, Error>(channel)
        };
        let channel = tokio::time::timeout(self.exec_timeout, start)
            .await
            .map_err(|_| Error::Timeout {
                host: self.label.clone(),
                seconds: self.exec_timeout.as_secs_f64(),
                what: format!("starting {:?}", first_word(command)),
            })??;
        Ok(RemoteProcess {
            channel,
            label: self.label.clone(),
            stderr: Vec::new(),
            status: None,
            closed: false,
            stdout_done: false,
        })
    }
}
