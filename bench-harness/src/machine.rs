//! What a result was measured on: the machine, the process's resources and the git revision.
//!
//! Everything here reads Linux's `/proc` (and `statvfs`/`getrusage` through `libc`); on other
//! systems, or when a file is unreadable, a field is `None` or `"unknown"` rather than an error:
//! a benchmark result is still worth keeping when the description of its machine is partial.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The machine a run was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name (`model name` in `/proc/cpuinfo`), or `"unknown"`.
    pub cpu_model: String,
    /// Logical cores available to this process.
    pub logical_cores: usize,
    /// Total memory (`MemTotal` in `/proc/meminfo`), bytes.
    pub memory_bytes: Option<u64>,
    /// Kernel release, or `"unknown"`.
    pub kernel: String,
    /// The file system holding the results.
    pub disk: Option<Disk>,
}

/// The file system a directory lives on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// The directory asked about.
    pub path: String,
    /// Mount point of its file system.
    pub mount_point: String,
    /// Device (first field of `/proc/mounts`).
    pub device: String,
    /// File-system type.
    pub fs_type: String,
    /// Size of the file system, bytes.
    pub total_bytes: Option<u64>,
    /// Space available to unprivileged users, bytes.
    pub available_bytes: Option<u64>,
}

impl Machine {
    /// Describes this machine; `results_dir` names the directory whose disk is reported.
    pub fn detect(results_dir: &Path) -> Machine {
        Machine {
            cpu_model: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|s| cpu_model(&s))
                .unwrap_or_else(|| "unknown".to_owned()),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|s| meminfo_kib(&s, "MemTotal"))
                .map(|kib| kib * 1024),
            kernel: kernel_release(),
            disk: disk_of(results_dir),
        }
    }
}

/// The first `model name` of a `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.trim();
        // x86 says "model name"; some ARM kernels only give "Hardware" or "Processor".
        (key == "model name" || key == "Processor" || key == "Hardware").then(|| value.trim().to_owned())
    })
}

/// A `kB` field of a `/proc/meminfo` or `/proc/self/status` text, in KiB.
pub fn meminfo_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn kernel_release() -> String {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        return s.trim().to_owned();
    }
    Command::new("uname")
        .arg("-r")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// The file system holding `dir` (the nearest existing ancestor if `dir` does not exist yet).
fn disk_of(dir: &Path) -> Option<Disk> {
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("."));
    let abs = std::fs::canonicalize(if existing.as_os_str().is_empty() { Path::new(".") } else { existing }).ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let (device, mount_point, fs_type) = mount_of(&mounts, &abs)?;
    let (total_bytes, available_bytes) = statvfs_bytes(&abs).map_or((None, None), |(t, a)| (Some(t), Some(a)));
    Some(Disk { path: abs.display().to_string(), mount_point, device, fs_type, total_bytes, available_bytes })
}

/// The `/proc/mounts` entry with the longest mount point that is an ancestor of `path`:
/// (device, mount point, type).
pub fn mount_of(mounts: &str, path: &Path) -> Option<(String, String, String)> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let device = f.next()?;
            // Spaces in mount points are written as `\040`.
            let mount_point = PathBuf::from(f.next()?.replace("\\040", " "));
            let fs_type = f.next()?;
            path.starts_with(&mount_point).then(|| (device.to_owned(), mount_point, fs_type.to_owned()))
        })
        // Later entries shadow earlier ones on the same mount point.
        .fold(None::<(String, PathBuf, String)>, |best, cur| match &best {
            Some(b) if b.1.as_os_str().len() > cur.1.as_os_str().len() => best,
            _ => Some(cur),
        })
        .map(|(d, m, t)| (d, m.display().to_string(), t))
}

/// (total, available) bytes of the file system holding `path`.
fn statvfs_bytes(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `st` points to
    // writable memory of the size of `struct statvfs`, which the call fills on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: `statvfs` returned 0, so it has initialised `st`; it was zeroed before anyway.
    let st = unsafe { st.assume_init() };
    // The fields are `c_ulong`/`fsblkcnt_t`: 32 bits on some targets, 64 on others.
    #[allow(clippy::unnecessary_cast)]
    let (frsize, blocks, bavail) = (st.f_frsize as u64, st.f_blocks as u64, st.f_bavail as u64);
    Some((blocks * frsize, bavail * frsize))
}

/// The process's resource use so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Peak resident set size (`VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// CPU time in user mode, all threads, seconds.
    pub cpu_user_s: f64,
    /// CPU time in the kernel, all threads, seconds.
    pub cpu_system_s: f64,
}

impl Resources {
    /// Reads this process's peak RSS and CPU times.
    pub fn of_this_process() -> Resources {
        let peak_rss_bytes =
            std::fs::read_to_string("/proc/self/status").ok().and_then(|s| meminfo_kib(&s, "VmHWM")).map(|k| k * 1024);
        let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `ru` points to writable memory of the size of `struct rusage`, which
        // `getrusage` fills on success.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
        let (cpu_user_s, cpu_system_s) = if rc == 0 {
            // SAFETY: `getrusage` returned 0, so `ru` is initialised (and it was zeroed).
            let ru = unsafe { ru.assume_init() };
            let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
            (secs(ru.ru_utime), secs(ru.ru_stime))
        } else {
            (0.0, 0.0)
        };
        Resources { peak_rss_bytes, cpu_user_s, cpu_system_s }
    }

    /// User plus system CPU seconds.
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_system_s
    }

    /// CPU seconds spent since `earlier` (peak RSS is this one's: it never decreases).
    pub fn since(&self, earlier: &Resources) -> Resources {
        Resources {
            peak_rss_bytes: self.peak_rss_bytes,
            cpu_user_s: (self.cpu_user_s - earlier.cpu_user_s).max(0.0),
            cpu_system_s: (self.cpu_system_s - earlier.cpu_system_s).max(0.0),
        }
    }
}

/// The git revision of the source tree the harness was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRevision {
    /// `git rev-parse HEAD`, or `"unknown"` outside a git checkout.
    pub commit: String,
    /// Whether files outside `results/` differ from `commit` (modified, or untracked and not
    /// ignored); `None` when unknown. The
    /// results directory is left out because benchmark scripts write their files there during a
    /// run: those files are outputs, not inputs of the binary that was measured.
    pub dirty: Option<bool>,
}

impl GitRevision {
    /// Asks git about the checkout containing this crate's sources.
    pub fn detect() -> GitRevision {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        match git(&["rev-parse", "HEAD"]) {
            Some(commit) if !commit.is_empty() => {
                let dirty =
                    git(&["status", "--porcelain", "--", ":(top)", ":(top,exclude)results"]).map(|s| !s.is_empty());
                GitRevision { commit, dirty }
            }
            _ => GitRevision { commit: "unknown".to_owned(), dirty: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_texts() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\
                       processor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(cpu_model("processor : 0\n"), None);

        let meminfo = "MemTotal:       16303108 kB\nMemFree:         1234 kB\n";
        assert_eq!(meminfo_kib(meminfo, "MemTotal"), Some(16_303_108));
        assert_eq!(meminfo_kib(meminfo, "MemFree"), Some(1234));
        assert_eq!(meminfo_kib(meminfo, "Mem"), None, "a prefix of a field name is not the field");
        assert_eq!(meminfo_kib("VmHWM:\t  5120 kB\n", "VmHWM"), Some(5120));
    }

    #[test]
    fn longest_mount_wins() {
        let mounts = "overlay / overlay rw 0 0\n/dev/sda1 /work ext4 rw 0 0\n/dev/sdb1 /work/main/results xfs rw 0 0\n\
                      tmpfs /work/mainly tmpfs rw 0 0\n";
        let m = |p: &str| mount_of(mounts, Path::new(p)).map(|(d, mp, t)| format!("{d} {mp} {t}"));
        assert_eq!(m("/work/main/results/x").as_deref(), Some("/dev/sdb1 /work/main/results xfs"));
        assert_eq!(m("/work/main").as_deref(), Some("/dev/sda1 /work ext4"), "/work/mainly is not an ancestor");
        assert_eq!(m("/tmp").as_deref(), Some("overlay / overlay"));
    }

    #[test]
    fn this_machine_and_process() {
        let m = Machine::detect(Path::new("."));
        assert!(m.logical_cores >= 1);
        if cfg!(target_os = "linux") {
            assert!(m.memory_bytes.is_some_and(|b| b > 0));
            assert_ne!(m.kernel, "unknown");
            let disk = m.disk.expect("the current directory is on some mount");
            assert!(disk.total_bytes.is_some_and(|b| b > 0));
            let r = Resources::of_this_process();
            assert!(r.peak_rss_bytes.is_some_and(|b| b > 0));
            // Burn a little CPU so the counter must be positive.
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            std::hint::black_box(x);
            assert!(Resources::of_this_process().cpu_s() > 0.0);
        }
    }
}
