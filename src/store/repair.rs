//! Reading a data file at start, and repairing it without losing anything silently.
//!
//! A file is scanned with [`record::scan`]: every valid record is kept, and every byte range
//! that could not be read is first copied, in file order, to `<file>.corrupt-<UTC time>`
//! (synced), and only then removed from the file: a damaged tail by truncation, damage in the
//! middle by rewriting the good records to a temporary file that is synced and renamed over
//! the original. Each repair is described by a [`Repair`] that says what was done to which file.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::record::{self, Damage};
use crate::state::Update;

/// One thing done to a data file at start, for the log and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The file that was changed or removed.
    pub file: PathBuf,
    /// What was found and done, in words.
    pub what: String,
    /// Where the bytes taken out of `file` were kept, if any were.
    pub kept_aside: Option<PathBuf>,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.what)
    }
}

/// The readable content of one data file.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The payloads of its valid records, in file order.
    pub records: Vec<Vec<u8>>,
    /// The file's length after any repair.
    pub len: u64,
    /// What was done to it, if anything.
    pub repair: Option<Repair>,
}

/// True for a payload that is an AT line (the only thing a data file holds).
fn is_update(payload: &[u8]) -> bool {
    Update::from_at_line(payload).is_some()
}

/// Reads `path` (missing = empty), keeps its damaged ranges aside and removes them from it.
pub fn load(path: &Path) -> io::Result<Loaded> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let bytes = match File::open(path) {
        Ok(mut f) => {
            let mut out = Vec::new();
            f.read_to_end(&mut out).map_err(named)?;
            out
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(named(e)),
    };
    let scan = record::scan(&bytes, is_update);
    let records: Vec<Vec<u8>> = scan.records.iter().map(|r| r.to_vec()).collect();
    let Some(((first, damage), last)) = scan.bad.first().zip(scan.bad.last()) else {
        return Ok(Loaded {
            records,
            len: bytes.len() as u64,
            repair: None,
        });
    };
    let (start, damage) = (first.start, *damage);
    let cut: usize = scan.bad.iter().map(|(r, _)| r.len()).sum();
    let aside = keep_aside(path, &bytes, &scan.bad)?;
    let at_tail = scan.bad.len() == 1 && last.0.end == bytes.len();
    let what = if at_tail {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| {
                f.set_len(start as u64)?;
                f.sync_all()
            })
            .map_err(named)?;
        format!(
            "{} at offset {start}: moved the last {cut} bytes to {} and cut the file to {start} bytes ({} records kept)",
            damage.as_str(),
            aside.display(),
            records.len()
        )
    } else {
        rewrite(path, &records)?;
        let later = scan
            .records
            .iter()
            .filter(|r| offset_of(&bytes, r) > start)
            .count();
        format!(
            "{} at offset {start}: {cut} bytes in {} damaged range(s) could not be read; \
             moved them to {} and rewrote the file with its {} good records ({later} of them after the damage)",
            damage.as_str(),
            scan.bad.len(),
            aside.display(),
            records.len()
        )
    };
    let len = records
        .iter()
        .map(|r| (record::HEADER + r.len()) as u64)
        .sum();
    Ok(Loaded {
        records,
        len,
        repair: Some(Repair {
            file: path.to_path_buf(),
            what,
            kept_aside: Some(aside),
        }),
    })
}

/// Where `sub` (a slice of `whole`) starts in it.
fn offset_of(whole: &[u8], sub: &[u8]) -> usize {
    sub.as_ptr() as usize - whole.as_ptr() as usize
}

/// Writes the damaged ranges of `bytes` to a new `<path>.corrupt-<time>` and syncs it.
fn keep_aside(
    path: &Path,
    bytes: &[u8],
    bad: &[(std::ops::Range<usize>, Damage)],
) -> io::Result<PathBuf> {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = format!("{}.corrupt-{stamp}", path.display());
    let mut n = 0;
    loop {
        let aside = PathBuf::from(if n == 0 {
            base.clone()
        } else {
            format!("{base}.{n}")
        });
        match OpenOptions::new().write(true).create_new(true).open(&aside) {
            Ok(mut f) => {
                let named =
                    |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", aside.display()));
                for (r, _) in bad {
                    f.write_all(&bytes[r.clone()]).map_err(named)?;
                }
                f.sync_all().map_err(named)?;
                sync_dir(path);
                return Ok(aside);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", aside.display()),
                ))
            }
        }
    }
}

/// Replaces `path` by a file of `records`: temporary file, sync, rename, sync of the folder.
/// On failure the temporary file is removed and the error names the file that failed.
pub fn rewrite(path: &Path, records: &[impl AsRef<[u8]>]) -> io::Result<()> {
    let tmp = tmp_path(path);
    let write = || -> io::Result<()> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", tmp.display()));
        let mut bytes = Vec::new();
        for r in records {
            record::encode(r.as_ref(), &mut bytes);
        }
        let mut f = File::create(&tmp).map_err(named)?;
        f.write_all(&bytes).map_err(named)?;
        f.sync_all().map_err(named)?;
        fs::rename(&tmp, path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("rename {} -> {}: {e}", tmp.display(), path.display()),
            )
        })?;
        sync_dir(path);
        Ok(())
    };
    let res = write();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// `<path>.tmp`: where a rewrite of `path` is written before it is renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.tmp", path.display()))
}

/// Makes a rename or a creation in `path`'s folder durable (best effort: not every platform
/// can open a folder, which is harmless).
pub fn sync_dir(path: &Path) {
    if let Some(d) = path.parent().and_then(|d| File::open(d).ok()) {
        let _ = d.sync_all();
    }
}

/// Removes a temporary file left by a rewrite or compaction that did not finish.
pub fn remove_stale_tmp(path: &Path) -> io::Result<Option<Repair>> {
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => Ok(Some(Repair {
            file: tmp,
            what: format!(
                "removed it: a temporary copy left by a write of {} that did not finish (the file itself is untouched)",
                path.display()
            ),
            kept_aside: None,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", tmp.display()))),
    }
}
