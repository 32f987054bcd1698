//! A spinner with the elapsed time, shown on stderr while a long job runs.
//!
//! It appears only after [`SHOW_AFTER`] (short runs print nothing extra) and only when stdout
//! is a terminal, so piped or recorded output stays clean. The jobs API reports only at the
//! end of a job, so the spinner shows elapsed time rather than progress.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a job runs before the spinner appears.
pub const SHOW_AFTER: Duration = Duration::from_secs(2);

/// A running spinner; [`Spinner::finish`] (or dropping it) removes it.
#[derive(Debug)]
pub struct Spinner {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner labelled `message` (hidden unless stdout is a terminal).
    pub fn start(message: String) -> Spinner {
        if !std::io::stdout().is_terminal() {
            return Spinner { stop: None, thread: None };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(SHOW_AFTER) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
                    .expect("the spinner template is valid"),
            );
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(200));
            // Wait for the job to end (a message or a dropped sender).
            let _ = rx.recv();
            bar.finish_and_clear();
        });
        Spinner { stop: Some(tx), thread: Some(thread) }
    }

    /// Removes the spinner and waits for it to be cleared.
    pub fn finish(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop_now();
    }
}
