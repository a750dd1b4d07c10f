//! The pure half of fsops: the operation list of a round and the in-memory model of the tree
//! those operations must produce. Nothing here touches the filesystem, so `verify` can
//! re-derive the expected state from the round number alone.

use std::collections::BTreeMap;

use crate::rng::{pattern, Rng};

/// uid/gid given by `chown` operations.
pub const OWNER: u32 = 1234;
pub const PAGE: u64 = 4096;

/// A timestamp as (seconds, nanoseconds).
pub type Time = (i64, u32);

/// One filesystem operation. Paths are relative to the round directory; "" is that directory.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Mkdir {
        path: String,
        mode: u32,
    },
    /// open(O_CREAT|O_EXCL|O_WRONLY) then write() the pattern in `chunk`-sized pieces.
    Create {
        path: String,
        mode: u32,
        len: usize,
        chunk: usize,
        seed: u64,
    },
    /// pwrite() of the pattern at an offset, possibly past EOF (leaves a hole).
    Pwrite {
        path: String,
        off: u64,
        len: usize,
        seed: u64,
    },
    /// Write through a shared writable mapping, then msync(MS_SYNC). Stays inside the file.
    MmapWrite {
        path: String,
        off: u64,
        len: usize,
        seed: u64,
    },
    Truncate {
        path: String,
        len: u64,
    },
    Symlink {
        target: String,
        path: String,
    },
    Link {
        from: String,
        to: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    /// lchown: applies to a symlink itself when `path` is one.
    Chown {
        path: String,
        uid: u32,
        gid: u32,
    },
    /// utimensat(AT_SYMLINK_NOFOLLOW) with fixed times.
    Utimes {
        path: String,
        atime: Time,
        mtime: Time,
    },
    /// fsync() of a file or directory.
    Fsync {
        path: String,
    },
    /// Read-only consistency check at this point: readdir for a directory, read + lseek for a
    /// file, readlink for a symlink.
    Check {
        path: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

#[derive(Clone, Debug)]
pub struct Inode {
    pub kind: Kind,
    /// Permission bits (mode & 0o7777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Set by Utimes, forgotten by anything that legitimately moves mtime afterwards.
    pub mtime: Option<Time>,
    pub data: Vec<u8>,
    pub target: String,
}

/// Expected tree: names (relative paths) to inode numbers; inode numbers index `inodes`.
#[derive(Clone, Debug)]
pub struct Model {
    pub inodes: Vec<Inode>,
    pub names: BTreeMap<String, usize>,
}

pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn is_under(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// The round directory itself: created by `populate` with mkdir(0755), umask 0, as root.
    pub fn new() -> Self {
        let root = Inode {
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: None,
            data: Vec::new(),
            target: String::new(),
        };
        let mut names = BTreeMap::new();
        names.insert(String::new(), 0);
        Model {
            inodes: vec![root],
            names,
        }
    }

    pub fn get(&self, path: &str) -> Option<&Inode> {
        self.names.get(path).map(|&i| &self.inodes[i])
    }

    fn ino(&self, path: &str) -> usize {
        *self
            .names
            .get(path)
            .unwrap_or_else(|| panic!("model: no such path {path:?}"))
    }

    fn node(&mut self, path: &str) -> &mut Inode {
        let i = self.ino(path);
        &mut self.inodes[i]
    }

    /// A directory's entries changed: its mtime moved.
    fn touch_dir(&mut self, dir: &str) {
        self.node(dir).mtime = None;
    }

    fn add(&mut self, path: &str, inode: Inode) {
        assert!(!self.names.contains_key(path), "model: {path:?} exists");
        assert_eq!(self.get(parent(path)).map(|i| i.kind), Some(Kind::Dir));
        self.inodes.push(inode);
        self.names.insert(path.to_string(), self.inodes.len() - 1);
        self.touch_dir(parent(path));
    }

    /// Names directly inside `dir`, sorted.
    pub fn children(&self, dir: &str) -> Vec<String> {
        self.names
            .keys()
            .filter(|p| !p.is_empty() && parent(p) == dir)
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    pub fn nlink(&self, path: &str) -> u64 {
        let ino = self.ino(path);
        match self.inodes[ino].kind {
            Kind::Dir => {
                2 + self
                    .names
                    .iter()
                    .filter(|(p, &i)| {
                        !p.is_empty() && parent(p) == path && self.inodes[i].kind == Kind::Dir
                    })
                    .count() as u64
            }
            _ => self.names.values().filter(|&&i| i == ino).count() as u64,
        }
    }

    pub fn paths_of(&self, kind: Kind) -> Vec<String> {
        self.names
            .iter()
            .filter(|(_, &i)| self.inodes[i].kind == kind)
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn apply(&mut self, op: &Op) {
        let new = |kind, mode| Inode {
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: None,
            data: Vec::new(),
            target: String::new(),
        };
        match op {
            Op::Mkdir { path, mode } => self.add(path, new(Kind::Dir, *mode)),
            Op::Create {
                path,
                mode,
                len,
                seed,
                ..
            } => {
                let mut inode = new(Kind::File, *mode);
                inode.data = pattern(*seed, *len);
                self.add(path, inode);
            }
            Op::Pwrite {
                path,
                off,
                len,
                seed,
            }
            | Op::MmapWrite {
                path,
                off,
                len,
                seed,
            } => {
                let node = self.node(path);
                let (off, end) = (*off as usize, *off as usize + *len);
                if node.data.len() < end {
                    node.data.resize(end, 0);
                }
                node.data[off..end].copy_from_slice(&pattern(*seed, *len));
                node.mtime = None;
            }
            Op::Truncate { path, len } => {
                let node = self.node(path);
                node.data.resize(*len as usize, 0);
                node.mtime = None;
            }
            Op::Symlink { target, path } => {
                let mut inode = new(Kind::Symlink, 0o777);
                inode.target = target.clone();
                self.add(path, inode);
            }
            Op::Link { from, to } => {
                let ino = self.ino(from);
                assert!(!self.names.contains_key(to.as_str()));
                self.names.insert(to.clone(), ino);
                self.touch_dir(parent(to));
            }
            Op::Rename { from, to } => {
                let ino = self.ino(from);
                // Replacing an existing name drops that link (a replaced directory is empty).
                self.names.remove(to.as_str());
                let moved: Vec<(String, usize)> = self
                    .names
                    .iter()
                    .filter(|(p, _)| is_under(p, from))
                    .map(|(p, &i)| (p.clone(), i))
                    .collect();
                self.names.remove(from.as_str());
                for (p, i) in moved {
                    self.names.remove(&p);
                    self.names.insert(format!("{to}{}", &p[from.len()..]), i);
                }
                self.names.insert(to.clone(), ino);
                self.touch_dir(parent(from));
                self.touch_dir(parent(to));
                // A directory moved to another parent has its ".." rewritten.
                if self.inodes[ino].kind == Kind::Dir && parent(from) != parent(to) {
                    self.inodes[ino].mtime = None;
                }
            }
            Op::Unlink { path } | Op::Rmdir { path } => {
                assert!(self.children(path).is_empty() || matches!(op, Op::Unlink { .. }));
                self.names.remove(path.as_str());
                self.touch_dir(parent(path));
            }
            Op::Chmod { path, mode } => self.node(path).mode = *mode,
            Op::Chown { path, uid, gid } => {
                let node = self.node(path);
                node.uid = *uid;
                node.gid = *gid;
            }
            Op::Utimes { path, mtime, .. } => self.node(path).mtime = Some(*mtime),
            Op::Fsync { .. } | Op::Check { .. } => {}
        }
    }
}

/// Builds the operation list of round `round`. Choices depend on the model state so far, so
/// the generator applies each op to a scratch model as it goes.
pub fn plan(round: u64) -> Vec<Op> {
    let mut g = Gen {
        rng: Rng::new(round.wrapping_mul(0x1000_0001) ^ 0x5eed),
        m: Model::new(),
        ops: Vec::new(),
        seq: 0,
    };
    g.build(round);
    g.ops
}

/// The expected final state of round `round`.
pub fn expected(round: u64) -> Model {
    let mut m = Model::new();
    for op in plan(round) {
        m.apply(&op);
    }
    m
}

struct Gen {
    rng: Rng,
    m: Model,
    ops: Vec<Op>,
    seq: u64,
}

const FILE_MODES: [u32; 5] = [0o644, 0o600, 0o755, 0o640, 0o444];
const DIR_MODES: [u32; 4] = [0o755, 0o700, 0o1777, 0o750];
/// Entries of the big directory (about 50 KB of directory entries).
const BIG_DIR: usize = 400;
/// Sizes around the boundaries that matter: empty, sub-sector, page, multi-page, large.
const SIZES: [usize; 9] = [0, 1, 511, 4095, 4096, 4097, 65536, 100_003, 262_144];

impl Gen {
    fn push(&mut self, op: Op) {
        self.m.apply(&op);
        self.ops.push(op);
    }

    fn seed(&mut self) -> u64 {
        self.seq += 1;
        self.rng.next_u64() ^ self.seq
    }

    fn name(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{}", self.seq)
    }

    fn dirs(&self) -> Vec<String> {
        self.m.paths_of(Kind::Dir)
    }

    fn files(&self) -> Vec<String> {
        self.m.paths_of(Kind::File)
    }

    fn any_dir(&mut self) -> String {
        let d = self.dirs();
        self.rng.pick(&d).clone()
    }

    fn any_file(&mut self) -> String {
        let f = self.files();
        self.rng.pick(&f).clone()
    }

    fn new_file(&mut self, dir: &str) -> String {
        let path = join(dir, &self.name("f"));
        let len = *self.rng.pick(&SIZES) + self.rng.below(3) * 17;
        let chunk = *self.rng.pick(&[1usize << 12, 1 << 16, 1000, 1 << 20]);
        let mode = *self.rng.pick(&FILE_MODES);
        let seed = self.seed();
        self.push(Op::Create {
            path: path.clone(),
            mode,
            len,
            chunk,
            seed,
        });
        path
    }

    fn build(&mut self, round: u64) {
        // Nested directories: a chain three deep plus a few placed at random.
        let mut chain = String::new();
        for depth in 0..3 {
            chain = join(&chain, &format!("nest{depth}"));
            self.push(Op::Mkdir {
                path: chain.clone(),
                mode: 0o755,
            });
        }
        for _ in 0..4 {
            let p = join(&self.any_dir(), &self.name("d"));
            let mode = *self.rng.pick(&DIR_MODES);
            self.push(Op::Mkdir { path: p, mode });
        }

        // Files with pattern content.
        for _ in 0..18 {
            let d = self.any_dir();
            self.new_file(&d);
        }

        // Positional writes: inside the file, straddling EOF, and far past EOF (a hole).
        for i in 0..8 {
            let f = self.any_file();
            let size = self.m.get(&f).unwrap().data.len() as u64;
            let off = match i % 3 {
                0 => self.rng.below(size as usize + 1) as u64,
                1 => size.saturating_sub(100),
                _ => size + 1 + self.rng.below(200_000) as u64,
            };
            let len = self.rng.range(1, 70_000);
            let seed = self.seed();
            self.push(Op::Pwrite {
                path: f.clone(),
                off,
                len,
                seed,
            });
            self.push(Op::Check { path: f });
        }

        // Shared writable mappings, page-aligned start inside files of at least one page.
        for _ in 0..5 {
            let big: Vec<String> = self
                .files()
                .into_iter()
                .filter(|f| self.m.get(f).unwrap().data.len() >= PAGE as usize)
                .collect();
            if big.is_empty() {
                let d = self.any_dir();
                let path = join(&d, &self.name("m"));
                let seed = self.seed();
                self.push(Op::Create {
                    path,
                    mode: 0o644,
                    len: 3 * PAGE as usize,
                    chunk: 4096,
                    seed,
                });
                continue;
            }
            let f = self.rng.pick(&big).clone();
            let size = self.m.get(&f).unwrap().data.len() as u64;
            let off = self.rng.below((size / PAGE) as usize) as u64 * PAGE;
            let len = self.rng.range(1, (size - off).min(3 * PAGE) as usize);
            let seed = self.seed();
            self.push(Op::MmapWrite {
                path: f.clone(),
                off,
                len,
                seed,
            });
            self.push(Op::Check { path: f });
        }

        // Truncate: grow (zero fill) and shrink, including to zero.
        for i in 0..6 {
            let f = self.any_file();
            let size = self.m.get(&f).unwrap().data.len() as u64;
            let len = match i % 3 {
                0 => size + 1 + self.rng.below(150_000) as u64,
                1 => self.rng.below(size as usize + 1) as u64,
                _ => 0,
            };
            if len == size {
                continue;
            }
            self.push(Op::Truncate {
                path: f.clone(),
                len,
            });
            self.push(Op::Check { path: f });
        }

        // Symlinks: relative to a real file, dangling, absolute, and a long target.
        let f = self.any_file();
        let targets = [
            format!("../{}", f.rsplit('/').next().unwrap()),
            "does-not-exist".to_string(),
            "/nonexistent/mxfs/target".to_string(),
            format!("{}/end", "t".repeat(200)),
        ];
        for t in targets {
            let p = join(&self.any_dir(), &self.name("s"));
            self.push(Op::Symlink {
                target: t,
                path: p.clone(),
            });
            self.push(Op::Check { path: p });
        }

        // Hard links, some files reaching three names.
        for _ in 0..5 {
            let f = self.any_file();
            let to = join(&self.any_dir(), &self.name("h"));
            self.push(Op::Link { from: f, to });
        }

        // Renames: within a directory, across directories, over an existing file.
        for _ in 0..3 {
            let f = self.any_file();
            let to = join(parent(&f), &self.name("r"));
            self.push(Op::Rename { from: f, to });
        }
        for _ in 0..3 {
            let f = self.any_file();
            let to = join(&self.any_dir(), &self.name("x"));
            self.push(Op::Rename { from: f, to });
        }
        for _ in 0..2 {
            let files = self.files();
            if files.len() < 2 {
                break;
            }
            let a = self.rng.pick(&files).clone();
            let b = self.rng.pick(&files).clone();
            if self.m.names[&a] != self.m.names[&b] {
                self.push(Op::Rename { from: a, to: b });
            }
        }
        // Directory renames: in place, then a subtree into another parent (never into itself).
        let src = self
            .dirs()
            .into_iter()
            .filter(|d| !d.is_empty())
            .max_by_key(|d| d.len())
            .unwrap();
        let to = join(parent(&src), &self.name("rd"));
        self.push(Op::Rename { from: src, to });
        let movable: Vec<String> = self.dirs().into_iter().filter(|d| !d.is_empty()).collect();
        let src = self.rng.pick(&movable).clone();
        let dests: Vec<String> = self
            .dirs()
            .into_iter()
            .filter(|d| d != &src && !is_under(d, &src) && d != parent(&src))
            .collect();
        if !dests.is_empty() {
            let dst = self.rng.pick(&dests).clone();
            let to = join(&dst, &self.name("mv"));
            self.push(Op::Rename { from: src, to });
        }

        // Unlink some names (possibly one link of several), rmdir an empty and an emptied dir.
        for _ in 0..4 {
            let f = self.any_file();
            self.push(Op::Unlink { path: f });
        }
        let d = join(&self.any_dir(), &self.name("empty"));
        self.push(Op::Mkdir {
            path: d.clone(),
            mode: 0o755,
        });
        self.push(Op::Rmdir { path: d });
        let d = join(&self.any_dir(), &self.name("tmp"));
        self.push(Op::Mkdir {
            path: d.clone(),
            mode: 0o700,
        });
        let f = self.new_file(&d);
        self.push(Op::Symlink {
            target: "x".into(),
            path: join(&d, "sl"),
        });
        self.push(Op::Unlink { path: f });
        self.push(Op::Unlink {
            path: join(&d, "sl"),
        });
        self.push(Op::Check { path: d.clone() });
        self.push(Op::Rmdir { path: d });

        // A name of 255 bytes, the maximum (created late so no rename or unlink takes it).
        let long = join(&self.any_dir(), &format!("L{round:0>254}"));
        let seed = self.seed();
        self.push(Op::Create {
            path: long,
            mode: 0o644,
            len: 3000,
            chunk: 4096,
            seed,
        });

        // Attributes: chmod files and dirs, chown files, dirs and a symlink itself.
        for _ in 0..5 {
            let f = self.any_file();
            let mode = *self.rng.pick(&FILE_MODES);
            self.push(Op::Chmod { path: f, mode });
        }
        let d = self.any_dir();
        let mode = *self.rng.pick(&DIR_MODES);
        self.push(Op::Chmod { path: d, mode });
        let mut owned: Vec<String> = (0..3).map(|_| self.any_file()).collect();
        owned.push(self.any_dir());
        owned.extend(self.m.paths_of(Kind::Symlink).into_iter().take(1));
        for p in owned {
            self.push(Op::Chown {
                path: p,
                uid: OWNER,
                gid: OWNER,
            });
        }

        // A directory big enough that listing it takes several getdents calls and XFS
        // converts it from block to leaf/node form; then holes from unlinks and renames.
        let names: Vec<String> = (0..BIG_DIR)
            .map(|i| format!("big/entry-{i:04}-{}", "p".repeat(95)))
            .collect();
        self.push(Op::Mkdir {
            path: "big".into(),
            mode: 0o755,
        });
        for (i, path) in names.iter().enumerate() {
            let seed = self.seed();
            self.push(Op::Create {
                path: path.clone(),
                mode: 0o644,
                len: i % 5,
                chunk: 4096,
                seed,
            });
        }
        for (i, path) in names.iter().enumerate() {
            if i % 3 == 0 {
                self.push(Op::Unlink { path: path.clone() });
            } else if i % 7 == 1 {
                self.push(Op::Rename {
                    from: path.clone(),
                    to: format!("big/renamed-{i:04}"),
                });
            }
        }
        self.push(Op::Check { path: "big".into() });

        // Durability points.
        for _ in 0..4 {
            let f = self.any_file();
            self.push(Op::Fsync { path: f });
        }
        self.push(Op::Fsync {
            path: String::new(),
        });

        // Fixed times last, so nothing moves them again; nanoseconds must survive.
        let mut timed: Vec<String> = self.m.names.keys().cloned().collect();
        timed.retain(|_| self.rng.chance(60));
        for (i, p) in timed.into_iter().enumerate() {
            let mtime = (
                1_000_000_000 + round as i64 * 86_400 + i as i64 * 61,
                (i as u32 * 7_654_321) % 1_000_000_000,
            );
            let atime = (mtime.0 + 3600, 5);
            self.push(Op::Utimes {
                path: p,
                atime,
                mtime,
            });
        }

        // Final listing of every directory.
        for d in self.dirs() {
            self.push(Op::Check { path: d });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_deterministic_and_round_dependent() {
        assert_eq!(plan(1), plan(1));
        assert_ne!(plan(1), plan(2));
    }

    #[test]
    fn plan_covers_every_operation() {
        let ops = plan(3);
        let has = |f: fn(&Op) -> bool| ops.iter().any(f);
        assert!(has(|o| matches!(o, Op::Mkdir { .. })));
        assert!(has(|o| matches!(o, Op::Create { .. })));
        assert!(has(|o| matches!(o, Op::Pwrite { .. })));
        assert!(has(|o| matches!(o, Op::MmapWrite { .. })));
        assert!(has(|o| matches!(o, Op::Truncate { .. })));
        assert!(has(|o| matches!(o, Op::Symlink { .. })));
        assert!(has(|o| matches!(o, Op::Link { .. })));
        assert!(has(|o| matches!(o, Op::Rename { .. })));
        assert!(has(|o| matches!(o, Op::Unlink { .. })));
        assert!(has(|o| matches!(o, Op::Rmdir { .. })));
        assert!(has(|o| matches!(o, Op::Chmod { .. })));
        assert!(has(|o| matches!(o, Op::Chown { .. })));
        assert!(has(|o| matches!(o, Op::Utimes { .. })));
        assert!(has(|o| matches!(o, Op::Fsync { .. })));
    }

    #[test]
    fn many_rounds_generate_consistent_models() {
        for round in 0..20 {
            let m = expected(round);
            // Every name's parent is a directory in the model.
            for p in m.names.keys().filter(|p| !p.is_empty()) {
                assert_eq!(
                    m.get(parent(p)).unwrap().kind,
                    Kind::Dir,
                    "round {round} {p}"
                );
            }
            // Some name is 255 bytes long.
            assert!(m
                .names
                .keys()
                .any(|p| p.rsplit('/').next().unwrap().len() == 255));
        }
    }

    #[test]
    fn model_rename_moves_subtree_and_link_counts() {
        let mut m = Model::new();
        m.apply(&Op::Mkdir {
            path: "a".into(),
            mode: 0o755,
        });
        m.apply(&Op::Mkdir {
            path: "a/b".into(),
            mode: 0o755,
        });
        m.apply(&Op::Create {
            path: "a/b/f".into(),
            mode: 0o644,
            len: 10,
            chunk: 4,
            seed: 1,
        });
        m.apply(&Op::Link {
            from: "a/b/f".into(),
            to: "g".into(),
        });
        assert_eq!(m.nlink("g"), 2);
        assert_eq!(m.nlink("a"), 3);
        m.apply(&Op::Mkdir {
            path: "c".into(),
            mode: 0o755,
        });
        m.apply(&Op::Rename {
            from: "a/b".into(),
            to: "c/b2".into(),
        });
        assert!(m.get("a/b/f").is_none());
        assert_eq!(m.get("c/b2/f").unwrap().data, pattern(1, 10));
        assert_eq!(m.nlink("a"), 2);
        assert_eq!(m.nlink("c"), 3);
        assert_eq!(m.children(""), vec!["a", "c", "g"]);
        m.apply(&Op::Unlink { path: "g".into() });
        assert_eq!(m.nlink("c/b2/f"), 1);
    }

    #[test]
    fn model_writes_extend_and_truncate_zero_fills() {
        let mut m = Model::new();
        m.apply(&Op::Create {
            path: "f".into(),
            mode: 0o644,
            len: 4,
            chunk: 4,
            seed: 9,
        });
        m.apply(&Op::Utimes {
            path: "f".into(),
            atime: (1, 0),
            mtime: (2, 3),
        });
        m.apply(&Op::Pwrite {
            path: "f".into(),
            off: 10,
            len: 2,
            seed: 5,
        });
        let d = &m.get("f").unwrap().data;
        assert_eq!(d.len(), 12);
        assert_eq!(&d[4..10], &[0u8; 6]);
        assert_eq!(m.get("f").unwrap().mtime, None);
        m.apply(&Op::Truncate {
            path: "f".into(),
            len: 2,
        });
        m.apply(&Op::Truncate {
            path: "f".into(),
            len: 5,
        });
        assert_eq!(&m.get("f").unwrap().data[2..], &[0u8; 3]);
    }

    #[test]
    fn model_rename_over_existing_drops_target_link() {
        let mut m = Model::new();
        m.apply(&Op::Create {
            path: "a".into(),
            mode: 0o644,
            len: 1,
            chunk: 1,
            seed: 1,
        });
        m.apply(&Op::Create {
            path: "b".into(),
            mode: 0o600,
            len: 2,
            chunk: 1,
            seed: 2,
        });
        m.apply(&Op::Rename {
            from: "a".into(),
            to: "b".into(),
        });
        assert_eq!(m.children(""), vec!["b"]);
        assert_eq!(m.get("b").unwrap().mode, 0o644);
    }
}
