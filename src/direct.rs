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
//!
//! A direct write returns only when the disk has the bytes, so each file's
//! full buffers are handed to a thread of its own that writes them, in
//! order, while the caller fills the next: making the bytes and the disk's
//! work overlap (at 100M events the FOCUS export alone is 6.5 GB of CSV).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Alignment of the buffer's address, and of every direct write's length
/// and file offset (a page: the largest logical block size of common disks).
const ALIGN: usize = 4096;
/// Bytes gathered before they are written (a multiple of [`ALIGN`]).
const BUFFER: usize = 8 << 20;
/// Full buffers waiting for the file's writer thread beyond the one it is
/// writing: a file holds at most this + 2 buffers.
const QUEUED: usize = 5;

/// A file being written, by one or more handles (clones share it: the
/// Parquet writer owns one, the caller keeps one to finish the file).
/// Whole blocks of [`BUFFER`] bytes go to the disk with `O_DIRECT`, from
/// the file's writer thread; [`DirectFile::finish`] writes the rest and
/// waits for every write. Dropped unfinished, the bytes still buffered are
/// not written (a run that fails removes its staging directory anyway).
#[derive(Clone)]
pub struct DirectFile(Arc<Mutex<Inner>>);

/// An aligned buffer: [`BUFFER`] + [`ALIGN`] bytes, of which the aligned
/// [`BUFFER`] bytes from `start` are used.
struct Block {
    mem: Vec<u8>,
    start: usize,
}

impl Block {
    fn new() -> Block {
        let mem = vec![0u8; BUFFER + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Block { mem, start }
    }

    fn bytes(&self) -> &[u8] {
        &self.mem[self.start..self.start + BUFFER]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + BUFFER]
    }
}

/// What the writer thread is asked to do, in order.
enum Job {
    /// Write the first `n` bytes of the block (whole blocks while direct).
    Write(Block, usize),
    /// Write the first `n` bytes, the last partial block through the page
    /// cache: the file's end.
    Last(Block, usize),
    /// Turn `O_DIRECT` off for the writes that follow (tests).
    #[cfg(test)]
    Buffered,
}

struct Inner {
    /// The buffer being filled.
    block: Block,
    /// Bytes pending in it.
    len: usize,
    /// Whether the file is still open with `O_DIRECT` (the writer thread
    /// turns it off when a direct write is refused).
    direct: Arc<AtomicBool>,
    /// Whether the file is finished (no more writes).
    finished: bool,
    /// To the writer thread; `None` once finished.
    jobs: Option<SyncSender<Job>>,
    /// Blocks the writer thread is done with, for reuse.
    free: Receiver<Block>,
    /// The writer thread: the first error it met, if any.
    writer: Option<JoinHandle<io::Result<()>>>,
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
        let direct = Arc::new(AtomicBool::new(direct));
        let (jobs, queue) = sync_channel(QUEUED);
        let (give_back, free) = sync_channel(QUEUED + 1);
        let writer = {
            let mut out = Writer {
                file,
                direct: direct.clone(),
            };
            std::thread::Builder::new()
                .name("reckon-write".into())
                .spawn(move || out.run(queue, give_back))?
        };
        Ok(DirectFile(Arc::new(Mutex::new(Inner {
            block: Block::new(),
            len: 0,
            direct,
            finished: false,
            jobs: Some(jobs),
            free,
            writer: Some(writer),
        }))))
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A writer that panicked mid-write leaves no state another handle
        // could misread: the file is abandoned with the run.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write every byte still buffered and wait for every write; no write
    /// may follow (a second `finish` does nothing).
    pub fn finish(&self) -> io::Result<()> {
        let mut inner = self.inner();
        if inner.finished {
            // Finished before: nothing more to write (as a finished file's
            // flush).
            return Ok(());
        }
        inner.finished = true;
        let n = inner.len;
        inner.len = 0;
        let block = std::mem::replace(
            &mut inner.block,
            Block {
                mem: Vec::new(),
                start: 0,
            },
        );
        let sent = inner.send(Job::Last(block, n));
        inner.jobs = None;
        let waited = inner.wait();
        sent.and(waited)
    }

    /// Whether the file is (still) written with `O_DIRECT`.
    pub fn is_direct(&self) -> bool {
        self.inner().direct.load(Ordering::SeqCst)
    }
}

impl Inner {
    /// Hand a job to the writer thread (waiting while [`QUEUED`] are
    /// queued); if the thread has stopped, its error.
    fn send(&mut self, job: Job) -> io::Result<()> {
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        self.jobs = None;
        match self.wait() {
            Ok(()) => Err(io::Error::other("the file's writer stopped")),
            Err(e) => Err(e),
        }
    }

    /// Wait for the writer thread to end: its first error, if any.
    fn wait(&mut self) -> io::Result<()> {
        match self.writer.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(io::Error::other("the file's writer panicked")),
        }
    }

    /// Hand the buffer's first `n` bytes (whole blocks) to the writer
    /// thread and go on with a free buffer holding the rest.
    fn hand_over(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let mut next = self.free.try_recv().unwrap_or_else(|_| Block::new());
        let rest = self.len - n;
        next.bytes_mut()[..rest].copy_from_slice(&self.block.bytes()[n..self.len]);
        let full = std::mem::replace(&mut self.block, next);
        self.len = rest;
        self.send(Job::Write(full, n))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Unfinished: the thread writes what it was handed and ends.
        self.jobs = None;
        let _ = self.wait();
    }
}

/// The writer thread's side of a file.
struct Writer {
    file: File,
    direct: Arc<AtomicBool>,
}

impl Writer {
    /// Do the jobs in order, giving each block back; stop at the first error.
    fn run(&mut self, jobs: Receiver<Job>, give_back: SyncSender<Block>) -> io::Result<()> {
        for job in jobs {
            match job {
                Job::Write(block, n) => {
                    self.write_all(&block.bytes()[..n])?;
                    let _ = give_back.try_send(block);
                }
                Job::Last(block, n) => {
                    let whole = if self.direct.load(Ordering::SeqCst) {
                        n / ALIGN * ALIGN
                    } else {
                        n
                    };
                    self.write_all(&block.bytes()[..whole])?;
                    if n > whole {
                        // The last, partial block through the page cache.
                        self.buffered()?;
                        self.write_all(&block.bytes()[whole..n])?;
                    }
                }
                #[cfg(test)]
                Job::Buffered => self.buffered()?,
            }
        }
        Ok(())
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.file.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => data = &data[k..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A direct write refused (a device whose blocks are larger,
                // or a short write left the offset unaligned): the rest
                // through the page cache.
                Err(e)
                    if self.direct.load(Ordering::SeqCst)
                        && e.raw_os_error() == Some(libc::EINVAL) =>
                {
                    self.buffered()?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Turn `O_DIRECT` off for the writes that follow.
    fn buffered(&mut self) -> io::Result<()> {
        if !self.direct.load(Ordering::SeqCst) {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this struct owns, with integer
        // arguments only.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.direct.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut inner = self.inner();
        if inner.finished {
            return Err(io::Error::other("write after the file was finished"));
        }
        let len = inner.len;
        let n = data.len().min(BUFFER - len);
        inner.block.bytes_mut()[len..len + n].copy_from_slice(&data[..n]);
        inner.len += n;
        if inner.len == BUFFER {
            inner.hand_over(BUFFER)?;
        }
        Ok(n)
    }

    /// Hands the whole blocks buffered to the writer thread; the rest waits
    /// for [`DirectFile::finish`] (a direct write must be whole blocks).
    fn flush(&mut self) -> io::Result<()> {
        let mut inner = self.inner();
        if inner.finished {
            return Ok(());
        }
        let n = inner.len / ALIGN * ALIGN;
        inner.hand_over(n)
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
        let bytes: Vec<u8> = (0..3 * BUFFER + 3 * ALIGN + 5)
            .map(|i| (i % 253) as u8)
            .collect();
        let mut f = DirectFile::create(&path).unwrap();
        f.write_all(&bytes[..BUFFER + 100]).unwrap();
        f.inner().send(Job::Buffered).unwrap();
        f.write_all(&bytes[BUFFER + 100..]).unwrap();
        f.finish().unwrap();
        assert!(!f.is_direct());
        assert!(std::fs::read(&path).unwrap() == bytes);
    }

    /// A write the disk refuses is reported, by a later write or by
    /// `finish`, not lost: the file's writer stops at its first error.
    #[test]
    fn a_failed_write_is_reported() {
        let full = std::path::Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let mut f = DirectFile::create_with(full, false).unwrap();
        let block = vec![7u8; BUFFER];
        // Two blocks reach the writer, which fails on the first; the
        // error comes back by the time the file is finished at the latest.
        let wrote = (0..4).try_for_each(|_| f.write_all(&block));
        let finished = f.finish();
        let err = wrote.and(finished).expect_err("/dev/full takes no bytes");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    }
}
