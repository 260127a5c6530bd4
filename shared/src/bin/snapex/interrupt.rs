//! Ctrl-C and SIGTERM: the first asks the export to stop (it cleans up and ends with
//! `Error::Interrupted`), a second exits at once. And the command that finishes an
//! interrupted export, printed for the user to run.

use std::ffi::OsString;
use std::sync::{Arc, OnceLock};

use snapex::stop::{Stop, Stopper};
use tokio::signal::unix::{SignalKind, signal};

/// The signal that stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// The shell's convention: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// The signal received first, if any.
pub type Received = Arc<OnceLock<Signal>>;

/// Handles SIGINT and SIGTERM from now on, and gives the [`Stop`] they trigger. On the first
/// signal the export is asked to stop and `stopping` runs (to say so on the progress bar); on
/// a second, `exiting` runs and the process exits at once. Without handlers (they cannot be
/// installed), the signals keep their default action.
pub fn handle_signals(
    stopping: impl Fn() + Send + 'static,
    exiting: impl Fn() + Send + 'static,
) -> (Stop, Received) {
    let (stopper, stop) = Stop::new();
    let received = Received::default();
    if let (Ok(int), Ok(term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        tokio::spawn(watch(
            int,
            term,
            stopper,
            received.clone(),
            stopping,
            exiting,
        ));
    }
    (stop, received)
}

async fn watch(
    mut int: tokio::signal::unix::Signal,
    mut term: tokio::signal::unix::Signal,
    stopper: Stopper,
    received: Received,
    stopping: impl Fn(),
    exiting: impl Fn(),
) {
    let first = tokio::select! {
        _ = int.recv() => Signal::Interrupt,
        _ = term.recv() => Signal::Terminate,
    };
    let _ = received.set(first);
    stopper.stop();
    stopping();
    tokio::select! {
        _ = int.recv() => {},
        _ = term.recv() => {},
    }
    exiting();
    std::process::exit(first.exit_code().into());
}

/// The command line that finishes export `export_id`: this process's own arguments, without
/// any `--resume` or `--export-id`, followed by `--resume --export-id <id>`, quoted for a POSIX
/// shell. Passwords in URLs (and libpq `password=` settings) are replaced by `****`: the line
/// may end up in a log. The second value says whether one was.
pub fn resume_command(args: impl IntoIterator<Item = OsString>, export_id: &str) -> (String, bool) {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut out = Vec::with_capacity(args.len() + 3);
    let mut redacted = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--resume" || a.starts_with("--export-id=") {
            continue;
        }
        if a == "--export-id" {
            i += 1; // and its value
            continue;
        }
        let (shown, hid) = without_password(a);
        redacted |= hid;
        out.push(shell_quote(&shown));
    }
    out.extend([
        "--resume".to_string(),
        "--export-id".to_string(),
        shell_quote(export_id),
    ]);
    (out.join(" "), redacted)
}

/// `arg` with the password of a URL in it (`postgres://u:pw@h/db`, `--source=mysql://...`)
/// or of a libpq `password=` setting replaced by `****`; and whether there was one.
fn without_password(arg: &str) -> (String, bool) {
    if let Some(at) = arg.find("://") {
        let start = arg[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .map_or(0, |i| i + 1);
        if let Ok(mut url) = url::Url::parse(&arg[start..])
            && url.password().is_some()
            && url.set_password(Some("****")).is_ok()
        {
            return (format!("{}{url}", &arg[..start]), true);
        }
        return (arg.to_string(), false);
    }
    if !arg.contains("password") {
        return (arg.to_string(), false);
    }
    let mut hid = false;
    let words: Vec<String> = arg
        .split(' ')
        .map(|w| match w.split_once('=') {
            Some((k, _)) if k.trim() == "password" => {
                hid = true;
                format!("{k}=****")
            }
            _ => w.to_string(),
        })
        .collect();
    (words.join(" "), hid)
}

/// `s` as one word for a POSIX shell: as is when it holds only characters no shell treats
/// specially, else in single quotes.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_resume_command_is_the_same_run_with_resume_and_its_id() {
        let (cmd, redacted) = resume_command(
            args(&[
                "/opt/snapex",
                "export",
                "--export-id",
                "old",
                "-s",
                "postgres://u@127.0.0.1/app?sslmode=disable&connect_timeout=2",
                "--dest",
                "/tmp/my lake",
                "--resume",
                "--export-id=older",
                "-j",
                "1",
            ]),
            "app-20260101T000000Z",
        );
        assert_eq!(
            cmd,
            "/opt/snapex export -s 'postgres://u@127.0.0.1/app?sslmode=disable&connect_timeout=2' \
             --dest '/tmp/my lake' -j 1 --resume --export-id app-20260101T000000Z"
        );
        assert!(!redacted);
    }

    #[test]
    fn passwords_are_left_out_of_the_resume_command() {
        let (cmd, redacted) = resume_command(
            args(&[
                "snapex",
                "export",
                "--source=mysql://root:Pw-s3cret@db:3306/shop",
                "--dest",
                "s3://lake/x",
            ]),
            "it's",
        );
        assert!(redacted);
        assert_eq!(
            cmd,
            "snapex export '--source=mysql://root:****@db:3306/shop' --dest s3://lake/x \
             --resume --export-id 'it'\\''s'"
        );
        let (cmd, redacted) = resume_command(
            args(&[
                "snapex",
                "export",
                "-s",
                "host=db password=Pw-s3cret dbname=app",
            ]),
            "e1",
        );
        assert!(redacted);
        assert!(!cmd.contains("Pw-s3cret"), "{cmd}");
        assert!(cmd.contains("'host=db password=**** dbname=app'"), "{cmd}");
    }
}
