//! Output files written around the page cache.
//!
//! A month's outputs are gigabytes of CSV (the FOCUS export and the invoice
//! lines most), written once and not read back by the run. Through the page
//! cache, the kernel copies every byte into fresh cache pages first, which
//! on the 2-core machines here costs more CPU than making the bytes: about
//! 2 CPU seconds per GB, against under 0.1 written with `O_DIRECT` straight
//! from reckon's buffer to the disk. [`DirectFile`] does the latter where
//! the file system allows it, and falls back to ordinary writes where it
//! does not (a file system without `O_DIRECT`, such as tmpfs before Linux
//! 6.6, or a write it refuses): the bytes written are the same either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Alignment of the buffer's address, and of every direct write's length
/// and file offset (a page: the largest logical block size of common disks).
const ALIGN: usize = 4096;
/// Bytes gathered before they are written (a multiple of [`ALIGN`]).
const BUFFER: usize = 8 << 20;

/// A file being written, by one or more handles (clones share it: the
/// Parquet writer owns one, the caller keeps one to finish the file).
/// Whole blocks of [`BUFFER`] bytes go to the disk with `O_DIRECT`;
/// [`DirectFile::finish`] writes the rest. Dropped unfinished, the bytes
/// still buffered are not written (a run that fails removes its staging
/// directory anyway).
#[derive(Clone)]
pub struct DirectFile(Arc<Mutex<Inner>>);

struct Inner {
    file: File,
    /// [`BUFFER`] + [`ALIGN`] bytes, of which the aligned [`BUFFER`] bytes
    /// from `start` are used.
    mem: Vec<u8>,
    start: usize,
    /// Bytes pending in the buffer.
    len: usize,
    /// Whether the file is still open with `O_DIRECT`.
    direct: bool,
    /// Whether the file is finished (no more writes).
    finished: bool,
}

impl DirectFile {
    /// Create (or truncate) `path`, with `O_DIRECT` where the file system
    /// takes it.
    pub fn create(path: &Path) -> io::Result<DirectFile> {
        Self::create_with(path, true)
    }

    /// [`DirectFile::create`], with `direct` false always through the page
    /// cache (the tests compare both ways).
    fn create_with(path: &Path, direct: bool) -> io::Result<DirectFile> {
        let open = |flags: i32| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(flags)
                .open(path)
        };
        let (file, direct) = match direct.then(|| open(libc::O_DIRECT)) {
            Some(Ok(file)) => (file, true),
            Some(Err(e)) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
            _ => (open(0)?, false),
        };
        let mem = vec![0u8; BUFFER + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Ok(DirectFile(Arc::new(Mutex::new(Inner {
            file,
            mem,
            start,
            len: 0,
            direct,
            finished: false,
        }))))
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A writer that panicked mid-write leaves no state another handle
        // could misread: the file is abandoned with the run.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write every byte still buffered; no write may follow.
    pub fn finish(&self) -> io::Result<()> {
        let mut inner = self.inner();
        inner.write_whole_blocks()?;
        if inner.len > 0 {
            // The last, partial block through the page cache.
            inner.buffered()?;
            let n = inner.len;
            inner.write_front(n)?;
        }
        inner.finished = true;
        Ok(())
    }

    /// Whether the file is (still) written with `O_DIRECT`.
    pub fn is_direct(&self) -> bool {
        self.inner().direct
    }
}

impl Inner {
    /// Write the whole [`ALIGN`] blocks buffered, keeping the rest.
    fn write_whole_blocks(&mut self) -> io::Result<()> {
        self.write_front(self.len / ALIGN * ALIGN)
    }

    /// Write the first `n` bytes of the buffer (a multiple of [`ALIGN`]
    /// while direct) and move the rest to its front.
    fn write_front(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let (s, len) = (self.start, self.len);
        let mut done = 0;
        while done < n {
            match self.file.write(&self.mem[s + done..s + n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => done += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A direct write refused (a device whose blocks are larger,
                // or a short write left the offset unaligned): the rest
                // through the page cache.
                Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.buffered()?
                }
                Err(e) => return Err(e),
            }
        }
        self.mem.copy_within(s + n..s + len, s);
        self.len = len - n;
        Ok(())
    }

    /// Turn `O_DIRECT` off for the writes that follow.
    fn buffered(&mut self) -> io::Result<()> {
        if !self.direct {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this struct owns, with integer
        // arguments only.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.direct = false;
        Ok(())
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut inner = self.inner();
        if inner.finished {
            return Err(io::Error::other("write after the file was finished"));
        }
        let (s, len) = (inner.start, inner.len);
        let n = data.len().min(BUFFER - len);
        inner.mem[s + len..s + len + n].copy_from_slice(&data[..n]);
        inner.len += n;
        if inner.len == BUFFER {
            inner.write_front(BUFFER)?;
        }
        Ok(n)
    }

    /// Writes the whole blocks buffered; the rest waits for
    /// [`DirectFile::finish`] (a direct write must be whole blocks).
    fn flush(&mut self) -> io::Result<()> {
        self.inner().write_whole_blocks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of every length around the block and buffer sizes, written in
    /// pieces of every awkward size, with flushes between: the file holds
    /// exactly them, direct or not.
    #[test]
    fn a_file_holds_exactly_the_bytes_written_direct_or_not() {
        // In the crate's directory: /tmp is often tmpfs, which refused
        // O_DIRECT before Linux 6.6.
        let dir = tempfile::tempdir_in(".").unwrap();
        let total = 2 * BUFFER + 3 * ALIGN + 17;
        let bytes: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
        for direct in [true, false] {
            for piece in [7, ALIGN, ALIGN + 1, BUFFER - 5, BUFFER + 7] {
                for len in [0, 5, ALIGN, BUFFER, BUFFER + 1, total] {
                    let path = dir.path().join("f");
                    let mut f = DirectFile::create_with(&path, direct).unwrap();
                    let started_direct = f.is_direct();
                    if direct && !started_direct {
                        eprintln!("no O_DIRECT on this file system: written buffered");
                    }
                    for (k, chunk) in bytes[..len].chunks(piece).enumerate() {
                        f.write_all(chunk).unwrap();
                        if k % 3 == 1 {
                            f.flush().unwrap();
                        }
                    }
                    // Every write before the last block was a direct one.
                    assert_eq!(f.is_direct(), started_direct);
                    f.finish().unwrap();
                    assert!(f.write(b"x").is_err(), "no write after finish");
                    drop(f);
                    let got = std::fs::read(&path).unwrap();
                    assert_eq!(got.len(), len, "direct {direct}, piece {piece}");
                    assert!(
                        got == bytes[..len],
                        "direct {direct}, piece {piece}, len {len}"
                    );
                }
            }
        }
    }

    /// Turned buffered half way (as when a direct write is refused), the
    /// file still holds exactly the bytes written.
    #[test]
    fn a_file_turned_buffered_half_way_holds_the_same_bytes() {
        let dir = tempfile::tempdir_in(".").unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..BUFFER + 3 * ALIGN + 5)
            .map(|i| (i % 253) as u8)
            .collect();
        let mut f = DirectFile::create(&path).unwrap();
        f.write_all(&bytes[..BUFFER + 100]).unwrap();
        f.inner().buffered().unwrap();
        assert!(!f.is_direct());
        f.write_all(&bytes[BUFFER + 100..]).unwrap();
        f.finish().unwrap();
        assert!(std::fs::read(&path).unwrap() == bytes);
    }
}
