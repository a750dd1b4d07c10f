//! Block I/O on the lockstate region with O_DIRECT | O_SYNC: every write is on stable
//! storage when it returns, and every read comes from the device, not this host's page cache
//! (which would hide other nodes' writes).
//!
//! O_DIRECT needs the buffer, offset and length aligned to the device's logical block size.
//! The buffer is carved out of a slightly larger `Vec` at a 4096-byte boundary, found with
//! the safe `align_offset`, so no unsafe allocation code is needed.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Alignment of every I/O buffer: the largest logical block size supported.
pub const MAX_ALIGN: usize = 4096;

/// A zeroed byte buffer whose start is aligned to [`MAX_ALIGN`].
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let storage = vec![0u8; len + MAX_ALIGN];
        // The heap block never moves while `storage` lives (it is never grown), so the
        // offset stays valid. `align_offset` may in theory decline (usize::MAX); then fall
        // back to 0 and let the kernel report EINVAL rather than index out of bounds.
        let start = match storage.as_ptr().align_offset(MAX_ALIGN) {
            off if off <= MAX_ALIGN => off,
            _ => 0,
        };
        AlignedBuf { storage, start, len }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// An I/O failure, with what was being done and where.
#[derive(Debug)]
pub enum DeviceError {
    /// The filesystem refuses O_DIRECT (tmpfs, some FUSE filesystems).
    DirectIoUnsupported { path: PathBuf },
    Io { path: PathBuf, what: &'static str, offset: u64, source: io::Error },
    /// A request outside the region or not a whole number of blocks.
    Range { offset: u64, len: usize, block_size: usize },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DirectIoUnsupported { path } => write!(
                f,
                "{} does not support O_DIRECT; the lockstate must be on a block device or a disk filesystem",
                path.display()
            ),
            Self::Io { path, what, offset, source } if source.raw_os_error() == Some(libc::EINVAL) => write!(
                f,
                "cannot {what} {} at offset {offset}: {source} (is the lockstate block size smaller than the device's logical block size?)",
                path.display()
            ),
            Self::Io { path, what, offset, source } => {
                write!(f, "cannot {what} {} at offset {offset}: {source}", path.display())
            }
            Self::Range { offset, len, block_size } => write!(
                f,
                "lockstate I/O of {len} bytes at {offset} is not whole {block_size}-byte blocks inside the region"
            ),
        }
    }
}

impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The lockstate region of a file or block device: `base` is where the lockstate starts on
/// it (0 for a lockstate file, the physical offset of its extent on a raw device).
pub struct BlockDevice {
    file: File,
    path: PathBuf,
    base: u64,
    block_size: usize,
}

impl BlockDevice {
    /// Opens `path` read-write with O_DIRECT | O_SYNC for blocks of `block_size`.
    pub fn open(path: &Path, base: u64, block_size: usize) -> Result<BlockDevice, DeviceError> {
        if !block_size.is_power_of_two() || block_size > MAX_ALIGN || !base.is_multiple_of(block_size as u64) {
            return Err(DeviceError::Range { offset: base, len: 0, block_size });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_SYNC)
            .open(path)
            .map_err(|source| match source.raw_os_error() {
                Some(libc::EINVAL) => DeviceError::DirectIoUnsupported { path: path.to_path_buf() },
                _ => DeviceError::Io { path: path.to_path_buf(), what: "open", offset: 0, source },
            })?;
        Ok(BlockDevice { file, path: path.to_path_buf(), base, block_size })
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes from `base` to the end of the file or device.
    pub fn region_len(&mut self) -> Result<u64, DeviceError> {
        // Seeking to the end works for block devices too, where metadata().len() is 0.
        let end = self.file.seek(SeekFrom::End(0)).map_err(|e| self.io("size", 0, e))?;
        Ok(end.saturating_sub(self.base))
    }

    fn io(&self, what: &'static str, offset: u64, source: io::Error) -> DeviceError {
        DeviceError::Io { path: self.path.clone(), what, offset, source }
    }

    fn check(&self, offset: u64, len: usize) -> Result<u64, DeviceError> {
        let bs = self.block_size;
        if len == 0 || !len.is_multiple_of(bs) || !offset.is_multiple_of(bs as u64) {
            return Err(DeviceError::Range { offset, len, block_size: bs });
        }
        self.base.checked_add(offset).ok_or(DeviceError::Range { offset, len, block_size: bs })
    }

    /// Reads whole blocks at `offset` (relative to `base`) into `buf`.
    pub fn read(&self, offset: u64, buf: &mut AlignedBuf) -> Result<(), DeviceError> {
        let at = self.check(offset, buf.len)?;
        self.file.read_exact_at(buf.as_mut_slice(), at).map_err(|e| self.io("read", at, e))
    }

    /// Writes whole blocks at `offset`; durable when this returns (O_SYNC).
    pub fn write(&self, offset: u64, buf: &AlignedBuf) -> Result<(), DeviceError> {
        let at = self.check(offset, buf.len)?;
        self.file.write_all_at(buf.as_slice(), at).map_err(|e| self.io("write", at, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned() {
        for len in [512, 4096, 1 << 20] {
            let b = AlignedBuf::new(len);
            assert_eq!(b.as_slice().as_ptr() as usize % MAX_ALIGN, 0);
            assert_eq!(b.as_slice().len(), len);
        }
    }
}
