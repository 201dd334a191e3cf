//! The response sender: one native thread that writes HTTP answers to their sockets.
//!
//! On loopback (and for small answers anywhere) a `send` runs the receiving side of TCP too:
//! it was the largest single cost of a single-event request, paid on the event loop's thread
//! while it held the GIL. Here the event loop only copies the answer into a queue; this thread,
//! which never touches Python, makes the system calls on the machine's other core.
//!
//! Each connection is registered with a duplicate of its socket's descriptor, owned here: the
//! event loop may close its own descriptor at any time (after a `Connection: close` answer, or
//! when the peer goes away), and the duplicate keeps the socket alive until its queued bytes are
//! written, so a descriptor number reused by a new connection can never receive them. Writes
//! stay in order per connection; a socket whose buffer is full waits in `poll` without holding
//! back the others; a peer that stops reading for more than `MAX_PENDING` bytes is cut off.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes a connection may have waiting for its peer to read before the peer is cut off.
const MAX_PENDING: usize = 16 << 20;

enum Cmd {
    Open(u64, RawFd),
    Data(u64, Vec<u8>),
    Close(u64),
}

struct Shared {
    queue: Mutex<Vec<Cmd>>,
    wake_fd: RawFd,
    sleeping: AtomicBool,
    /// Answers queued or partly written, not yet fully handed to the kernel (or dropped).
    outstanding: AtomicUsize,
}

impl Shared {
    fn push(&self, cmd: Cmd) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(cmd);
        if self.sleeping.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: wake_fd is an eventfd owned by Shared for the life of the process.
            unsafe { libc::write(self.wake_fd, (&one as *const u64).cast(), 8) };
        }
    }
}

struct Conn {
    fd: RawFd,
    pending: Vec<u8>,
    /// Answers (not bytes) among `pending`, for `outstanding`.
    pending_answers: usize,
    closing: bool,
    dead: bool,
}

enum Sent {
    All,
    Partly(usize),
    Failed,
}

fn send_some(fd: RawFd, data: &[u8]) -> Sent {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: fd is our own duplicate, open until we close it; data is a live slice.
        let n = unsafe {
            libc::send(fd, data[off..].as_ptr().cast(), data.len() - off,
                       libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
        };
        if n >= 0 {
            off += n as usize;
            continue;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Sent::Partly(off),
            _ => return Sent::Failed,
        }
    }
    Sent::All
}

struct Worker {
    shared: Arc<Shared>,
    conns: HashMap<u64, Conn>,
}

impl Worker {
    fn run(mut self) {
        let mut cmds = Vec::new();
        loop {
            std::mem::swap(&mut cmds, &mut *self.shared.queue.lock().unwrap_or_else(|e| e.into_inner()));
            if cmds.is_empty() {
                self.wait();
                continue;
            }
            for cmd in cmds.drain(..) {
                self.handle(cmd);
            }
            if self.conns.values().any(|c| !c.pending.is_empty()) {
                self.flush_ready(0);
            }
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Open(id, fd) => {
                self.conns.insert(id, Conn { fd, pending: Vec::new(), pending_answers: 0,
                                             closing: false, dead: false });
            }
            Cmd::Data(id, data) => {
                let Some(conn) = self.conns.get_mut(&id) else {
                    self.shared.outstanding.fetch_sub(1, Ordering::SeqCst);
                    return;
                };
                if conn.dead {
                    self.shared.outstanding.fetch_sub(1, Ordering::SeqCst);
                } else if !conn.pending.is_empty() {
                    conn.pending.extend_from_slice(&data);
                    conn.pending_answers += 1;
                    if conn.pending.len() > MAX_PENDING {
                        self.cut_off(id);
                    }
                } else {
                    match send_some(conn.fd, &data) {
                        Sent::All => {
                            self.shared.outstanding.fetch_sub(1, Ordering::SeqCst);
                        }
                        Sent::Partly(off) => {
                            conn.pending.extend_from_slice(&data[off..]);
                            conn.pending_answers = 1;
                        }
                        Sent::Failed => {
                            conn.dead = true;
                            self.shared.outstanding.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                }
            }
            Cmd::Close(id) => {
                let done = match self.conns.get_mut(&id) {
                    Some(conn) if conn.pending.is_empty() || conn.dead => true,
                    Some(conn) => {
                        conn.closing = true;
                        false
                    }
                    None => false,
                };
                if done {
                    self.forget(id);
                }
            }
        }
    }

    /// Drops a connection's queued bytes and shuts its socket down (the event loop then sees
    /// the connection end and closes its side).
    fn cut_off(&mut self, id: u64) {
        if let Some(conn) = self.conns.get_mut(&id) {
            // SAFETY: our own duplicate descriptor.
            unsafe { libc::shutdown(conn.fd, libc::SHUT_RDWR) };
            conn.dead = true;
            self.shared.outstanding.fetch_sub(conn.pending_answers, Ordering::SeqCst);
            conn.pending = Vec::new();
            conn.pending_answers = 0;
            if conn.closing {
                self.forget(id);
            }
        }
    }

    fn forget(&mut self, id: u64) {
        if let Some(conn) = self.conns.remove(&id) {
            self.shared.outstanding.fetch_sub(conn.pending_answers, Ordering::SeqCst);
            // SAFETY: our own duplicate descriptor, closed once.
            unsafe { libc::close(conn.fd) };
        }
    }

    /// Sleeps until a command comes or, with `stalled` sockets, until one can take more bytes.
    fn wait(&mut self) {
        let stalled = self.conns.values().any(|c| !c.pending.is_empty());
        self.shared.sleeping.store(true, Ordering::SeqCst);
        let queued = !self.shared.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        if queued {
            self.shared.sleeping.store(false, Ordering::SeqCst);
            return;
        }
        if stalled {
            self.flush_ready(-1);
        } else {
            let mut fds = [libc::pollfd { fd: self.shared.wake_fd, events: libc::POLLIN, revents: 0 }];
            // SAFETY: a valid one-element pollfd array.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
        }
        self.shared.sleeping.store(false, Ordering::SeqCst);
        let mut buf = 0u64;
        // SAFETY: the eventfd is non-blocking; reading resets its counter.
        unsafe { libc::read(self.shared.wake_fd, (&mut buf as *mut u64).cast(), 8) };
    }

    /// Polls the stalled sockets (and the wake-up descriptor) and writes to those that are
    /// ready; `timeout_ms` as poll's (0: just look, -1: until something happens).
    fn flush_ready(&mut self, timeout_ms: i32) {
        let ids: Vec<u64> = self.conns.iter().filter(|(_, c)| !c.pending.is_empty())
            .map(|(id, _)| *id).collect();
        let mut fds: Vec<libc::pollfd> = ids.iter()
            .map(|id| libc::pollfd { fd: self.conns[id].fd, events: libc::POLLOUT, revents: 0 })
            .collect();
        fds.push(libc::pollfd { fd: self.shared.wake_fd, events: libc::POLLIN, revents: 0 });
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n <= 0 {
            return;
        }
        for (id, pfd) in ids.iter().zip(&fds) {
            if pfd.revents == 0 {
                continue;
            }
            let conn = self.conns.get_mut(id).expect("stalled connection");
            let failed = pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
            let outcome = if failed { Sent::Failed } else { send_some(conn.fd, &conn.pending) };
            if let Sent::Partly(off) = outcome {
                conn.pending.drain(..off);
                continue;
            }
            conn.dead |= matches!(outcome, Sent::Failed);
            conn.pending = Vec::new();
            let (answers, closing) = (conn.pending_answers, conn.closing);
            conn.pending_answers = 0;
            self.shared.outstanding.fetch_sub(answers, Ordering::SeqCst);
            if closing {
                self.forget(*id);
            }
        }
    }
}

pub struct Sender {
    shared: Arc<Shared>,
    next_id: AtomicU64,
}

impl Sender {
    pub fn start() -> std::io::Result<Sender> {
        // SAFETY: plain system call; the descriptor is checked below.
        let wake_fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wake_fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            wake_fd,
            sleeping: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
        });
        let worker = Worker { shared: shared.clone(), conns: HashMap::new() };
        std::thread::Builder::new().name("metered-sender".into()).spawn(move || worker.run())?;
        Ok(Sender { shared, next_id: AtomicU64::new(1) })
    }

    /// Registers a connection by its socket descriptor (duplicated now); returns its id.
    pub fn open(&self, fd: RawFd) -> std::io::Result<u64> {
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor the caller holds open.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.push(Cmd::Open(id, dup));
        Ok(id)
    }

    pub fn send(&self, id: u64, data: Vec<u8>) {
        self.shared.outstanding.fetch_add(1, Ordering::SeqCst);
        self.shared.push(Cmd::Data(id, data));
    }

    /// Closes the connection's descriptor once its queued bytes are written.
    pub fn close(&self, id: u64) {
        self.shared.push(Cmd::Close(id));
    }

    /// Waits until every answer queued so far is written (or dropped), at most `timeout`.
    pub fn drain(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.shared.outstanding.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        true
    }

    pub fn outstanding(&self) -> usize {
        self.shared.outstanding.load(Ordering::SeqCst)
    }
}
