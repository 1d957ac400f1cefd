use crate::rt::VersionVec;

#[derive(Debug, Clone)]
pub(crate) struct Access {
    path_id: usize,
    dpor_vv: VersionVec,
}

impl Access {
    pub(crate) fn new(path_id: usize, version: &VersionVec) -> Access {
        Access {
            path_id,
            dpor_vv: *version,
        }
    }

    pub(crate) fn set(&mut self, path_id: usize, version: &VersionVec) {
        self.path_id = path_id;
        self.dpor_vv = *version;
    }

    pub(crate) fn set_or_create(access: &mut Option<Self>, path_id: usize, version: &VersionVec) {
        if let Some(access) = access.as_mut() {
            access.set(path_id, version);
        } else {
            *access = Some(Access::new(path_id, version));
        }
    }

    /// Location in the path
    pub(crate) fn path_id(&self) -> usize {
        self.path_id
    }

    pub(crate) fn version(&self) -> &VersionVec {
        &self.dpor_vv
    }

    pub(crate) fn happens_before(&self, version: &VersionVec) -> bool {
        self.dpor_vv <= *version
    }
}

/// The last access of each thread to one object (or to one class of its
/// operations).
///
/// DPOR must find, for a thread's next operation, the *latest* earlier
/// dependent access that does not happen-before it. Remembering only the
/// latest access overall is not enough: when that access happens-before the
/// next operation (typically because the same thread made it), an earlier
/// racing access of another thread is hidden behind it and its backtracking
/// point is never added (tokio-rs/loom#166, #392). If a thread's last access
/// happens-before an operation, so do all of its earlier ones, so the last
/// access of every thread is all DPOR needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accesses {
    by_thread: [Option<Access>; crate::rt::MAX_THREADS],
}

impl Accesses {
    /// Record an access by thread `thread` (its index in the execution).
    pub(crate) fn set(&mut self, thread: usize, path_id: usize, version: &VersionVec) {
        Access::set_or_create(&mut self.by_thread[thread], path_id, version);
    }

    /// Every thread's last access.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Access> + '_ {
        self.by_thread.iter().flatten()
    }
}
