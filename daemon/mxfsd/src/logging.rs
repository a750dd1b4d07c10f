//! Where mxfsd's `log` records go. The kernel starts mxfsd without a terminal, often before any
//! syslog daemon runs (in an initramfs, say), so the sink is chosen once at start:
//! syslog through /dev/log if something listens there, else the kernel log through /dev/kmsg
//! (so the lines land in dmesg next to mxfs.ko's own), else stderr.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use syslog::{Facility, Formatter3164, LoggerBackend};

/// Program name used as the syslog tag and kmsg prefix.
const IDENT: &str = "mxfsd";
/// `LOG_DAEMON` facility, as the high bits of a syslog priority.
const LOG_DAEMON: u8 = 3 << 3;

/// Which sink was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Syslog,
    Kmsg,
    Stderr,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Syslog => "syslog",
            Backend::Kmsg => "/dev/kmsg",
            Backend::Stderr => "stderr",
        })
    }
}

enum Sink {
    Syslog(syslog::Logger<LoggerBackend, Formatter3164>),
    /// /dev/kmsg, or any writer taking one record per write.
    Kmsg(Box<dyn Write + Send>),
    Stderr,
    /// stderr with the CLOCK_MONOTONIC time in front (runs by hand and tests).
    StderrTimed,
}

/// A `log::Log` writing one line per record to the chosen sink.
pub struct DaemonLogger {
    sink: Mutex<Sink>,
    pid: u32,
}

/// Installs the logger for the process and returns the sink it chose.
pub fn init() -> Backend {
    let pid = std::process::id();
    let (sink, backend) = if let Some(s) = open_syslog(Path::new("/dev/log"), pid) {
        (s, Backend::Syslog)
    } else if let Ok(f) = OpenOptions::new().write(true).open("/dev/kmsg") {
        (Sink::Kmsg(Box::new(f)), Backend::Kmsg)
    } else {
        (Sink::Stderr, Backend::Stderr)
    };
    let logger = Box::new(DaemonLogger {
        sink: Mutex::new(sink),
        pid,
    });
    // Fails only if a logger is already set, which nothing else in mxfsd does.
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
    backend
}

/// Installs a stderr logger with time stamps (`--standalone`, `--format-lockstate`).
pub fn init_stderr(verbose: bool) -> Backend {
    let logger = Box::new(DaemonLogger { sink: Mutex::new(Sink::StderrTimed), pid: std::process::id() });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(if verbose { LevelFilter::Debug } else { LevelFilter::Info });
    }
    Backend::Stderr
}

fn open_syslog(socket: &Path, pid: u32) -> Option<Sink> {
    let formatter = Formatter3164 {
        facility: Facility::LOG_DAEMON,
        hostname: None,
        process: IDENT.into(),
        pid,
    };
    syslog::unix_custom(formatter, socket)
        .ok()
        .map(Sink::Syslog)
}

/// Syslog severity of a `log` level.
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// Log lines stay single lines whatever the message holds.
fn one_line(msg: &str) -> String {
    msg.replace(['\n', '\r'], " ")
}

/// One /dev/kmsg record: `<PRI>mxfsd[PID]: message\n`. The priority carries the daemon
/// facility so the kernel files it as a userspace message.
pub fn kmsg_record(level: Level, pid: u32, msg: &str) -> String {
    format!(
        "<{}>{IDENT}[{pid}]: {}\n",
        LOG_DAEMON | severity(level),
        one_line(msg)
    )
}

/// One stderr line, in the usual "program: message" form.
pub fn stderr_line(msg: &str) -> String {
    format!("{IDENT}: {}\n", one_line(msg))
}

impl DaemonLogger {
    fn write(&self, level: Level, msg: &str) {
        let mut sink = match self.sink.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A lost log line must not stop the daemon, so write errors are dropped.
        let _ = match &mut *sink {
            Sink::Syslog(l) => {
                let msg = one_line(msg);
                match level {
                    Level::Error => l.err(msg),
                    Level::Warn => l.warning(msg),
                    Level::Info => l.info(msg),
                    Level::Debug | Level::Trace => l.debug(msg),
                }
                .map_err(|_| ())
            }
            // /dev/kmsg takes exactly one record per write(2).
            Sink::Kmsg(w) => w
                .write_all(kmsg_record(level, self.pid, msg).as_bytes())
                .map_err(|_| ()),
            Sink::Stderr => std::io::stderr()
                .write_all(stderr_line(msg).as_bytes())
                .map_err(|_| ()),
            Sink::StderrTimed => {
                let ms = crate::clock::now_ms();
                let line = format!("[{}.{:03}] {}", ms / 1000, ms % 1000, stderr_line(msg));
                std::io::stderr().write_all(line.as_bytes()).map_err(|_| ())
            }
        };
    }
}

impl Log for DaemonLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.write(record.level(), &record.args().to_string());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::sync::Arc;

    /// A writer whose bytes the test can read back, one entry per write call.
    #[derive(Clone, Default)]
    struct Records(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Records {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(logger: &DaemonLogger, level: Level, msg: &str) {
        logger.write(level, msg);
    }

    #[test]
    fn kmsg_records_carry_priority_ident_and_pid() {
        assert_eq!(
            kmsg_record(Level::Info, 321, "volume u on /dev/sdb at /mnt: ready"),
            "<30>mxfsd[321]: volume u on /dev/sdb at /mnt: ready\n"
        );
        assert_eq!(kmsg_record(Level::Error, 1, "x"), "<27>mxfsd[1]: x\n");
        assert_eq!(kmsg_record(Level::Warn, 1, "x"), "<28>mxfsd[1]: x\n");
        assert_eq!(kmsg_record(Level::Debug, 1, "x"), "<31>mxfsd[1]: x\n");
    }

    #[test]
    fn multi_line_messages_become_one_line() {
        assert_eq!(
            kmsg_record(Level::Info, 5, "a\nb\r\nc"),
            "<30>mxfsd[5]: a b  c\n"
        );
        assert_eq!(stderr_line("a\nb"), "mxfsd: a b\n");
    }

    #[test]
    fn kmsg_sink_writes_one_record_per_write() {
        let buf = Records::default();
        let logger = DaemonLogger {
            sink: Mutex::new(Sink::Kmsg(Box::new(buf.clone()))),
            pid: 77,
        };
        record(&logger, Level::Info, "first");
        record(&logger, Level::Error, "second\nline");
        let writes = buf.0.lock().unwrap().clone();
        assert_eq!(
            writes,
            vec![
                b"<30>mxfsd[77]: first\n".to_vec(),
                b"<27>mxfsd[77]: second line\n".to_vec()
            ]
        );
    }

    #[test]
    fn syslog_sink_sends_daemon_facility_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let sink = open_syslog(&path, 4242).expect("connect to the test socket");
        let logger = DaemonLogger {
            sink: Mutex::new(sink),
            pid: 4242,
        };
        record(&logger, Level::Warn, "stopping");

        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("<28>"), "{text}");
        assert!(text.ends_with("mxfsd[4242]: stopping"), "{text}");
    }

    #[test]
    fn syslog_is_skipped_when_nothing_listens() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open_syslog(&dir.path().join("log"), 1).is_none());
    }
}
