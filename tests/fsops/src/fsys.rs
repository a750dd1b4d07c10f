//! The filesystem half: carries out a round's operations with real system calls, checking
//! each result right away, and compares a tree on disk with the model.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::model::{Inode, Kind, Model, Op};
use crate::rng::{checksum, pattern};
use crate::sys;

/// Mismatch lines, one per problem, printed by the caller.
#[derive(Default)]
pub struct Report {
    pub lines: Vec<String>,
}

impl Report {
    pub fn bad(&mut self, path: &str, what: String) {
        let path = if path.is_empty() { "." } else { path };
        self.lines.push(format!("MISMATCH {path}: {what}"));
    }

    fn err(&mut self, op: &Op, e: io::Error) {
        self.lines.push(format!("FAILED {op:?}: {e}"));
    }
}

pub fn round_dir(base: &Path, round: u64) -> PathBuf {
    base.join(format!("round-{round}"))
}

/// Applies `ops` to the tree at `root` (which must not exist yet), checking each step against
/// the model as it evolves.
pub fn populate(root: &Path, ops: &[Op], report: &mut Report) -> io::Result<()> {
    sys::umask(0);
    fs::DirBuilder::new().mode(0o755).create(root)?;
    let mut m = Model::new();
    for op in ops {
        m.apply(op);
        if let Err(e) = apply(root, op, &m, report) {
            report.err(op, e);
            // Later operations depend on this one; stop instead of cascading.
            return Ok(());
        }
    }
    // Make everything durable before we report success.
    File::open(root)?.sync_all()?;
    Ok(())
}

fn p(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

fn apply(root: &Path, op: &Op, m: &Model, r: &mut Report) -> io::Result<()> {
    match op {
        Op::Mkdir { path, mode } => {
            // With umask 0, mkdir(2) keeps the permission and sticky bits as given.
            fs::DirBuilder::new().mode(*mode).create(p(root, path))?;
        }
        Op::Create {
            path,
            mode,
            len,
            chunk,
            seed,
        } => {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(*mode)
                .open(p(root, path))?;
            let data = pattern(*seed, *len);
            for piece in data.chunks(*chunk) {
                f.write_all(piece)?;
            }
            let pos = f.stream_position()?;
            if pos != *len as u64 {
                r.bad(
                    path,
                    format!("lseek(SEEK_CUR) after writes = {pos}, expected {len}"),
                );
            }
            let end = f.seek(SeekFrom::End(0))?;
            if end != *len as u64 {
                r.bad(path, format!("lseek(SEEK_END) = {end}, expected {len}"));
            }
            drop(f);
            check_file_content(root, path, m, r)?;
        }
        Op::Pwrite {
            path,
            off,
            len,
            seed,
        } => {
            let f = OpenOptions::new()
                .write(true)
                .read(true)
                .open(p(root, path))?;
            let data = pattern(*seed, *len);
            f.write_all_at(&data, *off)?;
            let mut back = vec![0u8; *len];
            f.read_exact_at(&mut back, *off)?;
            if back != data {
                r.bad(
                    path,
                    format!("pread after pwrite at {off}+{len} returned other data"),
                );
            }
        }
        Op::MmapWrite {
            path,
            off,
            len,
            seed,
        } => {
            let f = OpenOptions::new()
                .write(true)
                .read(true)
                .open(p(root, path))?;
            let data = pattern(*seed, *len);
            sys::mmap_write(&f, *off, &data)?;
            let mut back = vec![0u8; *len];
            f.read_exact_at(&mut back, *off)?;
            if back != data {
                r.bad(
                    path,
                    format!("pread after mmap write at {off}+{len} returned other data"),
                );
            }
        }
        Op::Truncate { path, len } => {
            let f = OpenOptions::new().write(true).open(p(root, path))?;
            f.set_len(*len)?;
            let size = f.metadata()?.len();
            if size != *len {
                r.bad(
                    path,
                    format!("size after ftruncate = {size}, expected {len}"),
                );
            }
        }
        Op::Symlink { target, path } => {
            std::os::unix::fs::symlink(target, p(root, path))?;
            let got = fs::read_link(p(root, path))?;
            if got.as_os_str() != target.as_str() {
                r.bad(path, format!("readlink = {got:?}, expected {target:?}"));
            }
        }
        Op::Link { from, to } => {
            fs::hard_link(p(root, from), p(root, to))?;
            let (a, b) = (fs::metadata(p(root, from))?, fs::metadata(p(root, to))?);
            if a.ino() != b.ino() || b.nlink() != m.nlink(to) {
                r.bad(
                    to,
                    format!(
                        "after link: ino {}/{} nlink {} expected {}",
                        a.ino(),
                        b.ino(),
                        b.nlink(),
                        m.nlink(to)
                    ),
                );
            }
        }
        Op::Rename { from, to } => {
            fs::rename(p(root, from), p(root, to))?;
            if fs::symlink_metadata(p(root, from)).is_ok() {
                r.bad(from, "still exists after rename".into());
            }
            fs::symlink_metadata(p(root, to))?;
        }
        Op::Unlink { path } => {
            fs::remove_file(p(root, path))?;
            if fs::symlink_metadata(p(root, path)).is_ok() {
                r.bad(path, "still exists after unlink".into());
            }
        }
        Op::Rmdir { path } => {
            fs::remove_dir(p(root, path))?;
            if fs::symlink_metadata(p(root, path)).is_ok() {
                r.bad(path, "still exists after rmdir".into());
            }
        }
        Op::Chmod { path, mode } => {
            fs::set_permissions(p(root, path), fs::Permissions::from_mode(*mode))?
        }
        Op::Chown { path, uid, gid } => {
            std::os::unix::fs::lchown(p(root, path), Some(*uid), Some(*gid))?
        }
        Op::Utimes { path, atime, mtime } => sys::lutimes(&p(root, path), *atime, *mtime)?,
        Op::Fsync { path } => {
            // Directories can be opened read-only and fsynced like files.
            File::open(p(root, path))?.sync_all()?;
        }
        Op::Check { path } => match m.get(path).map(|i| i.kind) {
            Some(Kind::Dir) => check_listing(root, path, m, r)?,
            Some(Kind::File) => check_file_content(root, path, m, r)?,
            Some(Kind::Symlink) => {
                let got = fs::read_link(p(root, path))?;
                let want = &m.get(path).unwrap().target;
                if got.as_os_str() != want.as_str() {
                    r.bad(path, format!("readlink = {got:?}, expected {want:?}"));
                }
            }
            None => r.bad(path, "check of a path the model does not have".into()),
        },
    }
    // Every step must leave the attributes the model predicts.
    for touched in touched_paths(op) {
        if m.get(touched).is_some() {
            check_attrs(root, touched, m, r)?;
        }
    }
    Ok(())
}

fn touched_paths(op: &Op) -> Vec<&str> {
    match op {
        Op::Link { from, to } | Op::Rename { from, to } => vec![from, to],
        Op::Mkdir { path, .. }
        | Op::Create { path, .. }
        | Op::Pwrite { path, .. }
        | Op::MmapWrite { path, .. }
        | Op::Truncate { path, .. }
        | Op::Symlink { path, .. }
        | Op::Chmod { path, .. }
        | Op::Chown { path, .. }
        | Op::Utimes { path, .. } => vec![path],
        _ => vec![],
    }
}

/// Reads the whole file sequentially and with lseek, and compares with the model.
fn check_file_content(root: &Path, path: &str, m: &Model, r: &mut Report) -> io::Result<()> {
    let want = &m.get(path).unwrap().data;
    let mut f = File::open(p(root, path))?;
    let mut got = Vec::with_capacity(want.len());
    f.read_to_end(&mut got)?;
    compare_data(path, &got, want, r);
    // lseek to the middle and read the rest: the same bytes again.
    let mid = want.len() as u64 / 2;
    if f.seek(SeekFrom::Start(mid))? != mid {
        r.bad(
            path,
            format!("lseek(SEEK_SET, {mid}) returned another offset"),
        );
    }
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    if tail[..] != want[mid as usize..] {
        r.bad(
            path,
            format!("read after lseek to {mid} returned other data"),
        );
    }
    let cur = f.seek(SeekFrom::Current(-(tail.len() as i64)))?;
    if cur != mid {
        r.bad(
            path,
            format!("lseek(SEEK_CUR, -{}) = {cur}, expected {mid}", tail.len()),
        );
    }
    Ok(())
}

fn compare_data(path: &str, got: &[u8], want: &[u8], r: &mut Report) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    r.bad(
        path,
        format!(
            "content checksum {:016x} (len {}) != expected {:016x} (len {}), first difference at byte {first}",
            checksum(got),
            got.len(),
            checksum(want),
            want.len()
        ),
    );
}

fn check_listing(root: &Path, dir: &str, m: &Model, r: &mut Report) -> io::Result<()> {
    let mut got = BTreeSet::new();
    for e in fs::read_dir(p(root, dir))? {
        got.insert(e?.file_name().to_string_lossy().into_owned());
    }
    let want: BTreeSet<String> = m.children(dir).into_iter().collect();
    for extra in got.difference(&want) {
        r.bad(dir, format!("readdir has unexpected entry {extra:?}"));
    }
    for missing in want.difference(&got) {
        r.bad(dir, format!("readdir lacks entry {missing:?}"));
    }
    Ok(())
}

fn check_attrs(root: &Path, path: &str, m: &Model, r: &mut Report) -> io::Result<()> {
    let want: &Inode = m.get(path).unwrap();
    let md = fs::symlink_metadata(p(root, path))?;
    let kind = if md.file_type().is_symlink() {
        Kind::Symlink
    } else if md.is_dir() {
        Kind::Dir
    } else if md.is_file() {
        Kind::File
    } else {
        r.bad(path, format!("unexpected file type, mode {:o}", md.mode()));
        return Ok(());
    };
    if kind != want.kind {
        r.bad(path, format!("type {kind:?}, expected {:?}", want.kind));
        return Ok(());
    }
    let mode = md.mode() & 0o7777;
    if mode != want.mode {
        r.bad(path, format!("mode {mode:o}, expected {:o}", want.mode));
    }
    if (md.uid(), md.gid()) != (want.uid, want.gid) {
        r.bad(
            path,
            format!(
                "owner {}:{}, expected {}:{}",
                md.uid(),
                md.gid(),
                want.uid,
                want.gid
            ),
        );
    }
    let nlink = m.nlink(path);
    if md.nlink() != nlink {
        r.bad(path, format!("nlink {}, expected {nlink}", md.nlink()));
    }
    if kind == Kind::File && md.len() != want.data.len() as u64 {
        r.bad(
            path,
            format!("size {}, expected {}", md.len(), want.data.len()),
        );
    }
    if kind == Kind::Symlink && md.len() != want.target.len() as u64 {
        r.bad(
            path,
            format!("symlink size {}, expected {}", md.len(), want.target.len()),
        );
    }
    if let Some((s, ns)) = want.mtime {
        if (md.mtime(), md.mtime_nsec()) != (s, ns as i64) {
            r.bad(
                path,
                format!(
                    "mtime {}.{:09}, expected {s}.{ns:09}",
                    md.mtime(),
                    md.mtime_nsec()
                ),
            );
        }
    }
    Ok(())
}

/// Compares the whole tree at `root` with the model: exact listings, attributes, contents.
pub fn verify(root: &Path, m: &Model, r: &mut Report) {
    for (path, &ino) in &m.names {
        let res = (|| -> io::Result<()> {
            check_attrs(root, path, m, r)?;
            match m.inodes[ino].kind {
                Kind::Dir => check_listing(root, path, m, r)?,
                Kind::File => {
                    let got = fs::read(p(root, path))?;
                    compare_data(path, &got, &m.inodes[ino].data, r);
                }
                Kind::Symlink => {
                    let got = fs::read_link(p(root, path))?;
                    if got.as_os_str() != m.inodes[ino].target.as_str() {
                        r.bad(
                            path,
                            format!("readlink = {got:?}, expected {:?}", m.inodes[ino].target),
                        );
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            r.bad(path, format!("{e}"));
        }
    }
}
