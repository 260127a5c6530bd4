//! Who a run is (a random token, the host, the process) and whether a holder is a process
//! still running on this machine. Apart because it asks the operating system, not the store.

use super::record::LeaseRecord;

/// Who this run is, as its lease generations name it: a token unique to the run, the host
/// and the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIdentity {
    pub run: String,
    pub host: String,
    pub pid: u32,
}

impl RunIdentity {
    /// This process, with a fresh random token.
    pub fn new() -> RunIdentity {
        RunIdentity {
            run: format!("{:016x}", random_u64()),
            host: hostname(),
            pid: std::process::id(),
        }
    }
}

impl Default for RunIdentity {
    fn default() -> Self {
        RunIdentity::new()
    }
}

/// 64 random bits: std's hasher keys are drawn from the operating system's randomness (the
/// crate has no random number generator of its own, and this needs no more).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// True when `holder` is another snapex process still running on this machine: a resume
/// does not take a lease from a run that is plainly alive. (On another machine nothing tells;
/// the user's `--resume` says that run is gone.)
pub(super) fn running_here(holder: &LeaseRecord, me: &RunIdentity) -> bool {
    if holder.host != me.host || holder.pid == me.pid {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(holder.pid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A pid the system gave to another program since is not the holder.
    exists
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map_or(true, |cmd| String::from_utf8_lossy(&cmd).contains("snapex"))
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
