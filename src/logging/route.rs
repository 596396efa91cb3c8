//! Hands each record to the one file logger its target names.
//!
//! simplelog's `CombinedLogger` gives every record to every logger, and a `WriteLogger` takes
//! its lock before it checks its target filter: with five servers in one process (the demo,
//! the bench), six locks per record, taken by every worker thread, for one line written. In
//! the bench that cost the in-process herd a sixth of its throughput at info level.

use std::collections::HashMap;

use log::{Log, Metadata, Record};
use simplelog::SharedLogger;

/// The process-wide logger: a server's records to its file, the rest to one file, and
/// warnings and errors also to stderr where asked.
pub(super) struct Router {
    /// A server's file logger, by the server's log target (`herd[Clark]`).
    servers: HashMap<String, Box<dyn SharedLogger>>,
    /// Every record no server's target names (with one server per process: all of them).
    rest: Box<dyn SharedLogger>,
    /// Warnings and errors on stderr.
    term: Option<Box<dyn SharedLogger>>,
}

impl Router {
    pub(super) fn new(
        servers: HashMap<String, Box<dyn SharedLogger>>,
        rest: Box<dyn SharedLogger>,
        term: Option<Box<dyn SharedLogger>>,
    ) -> Self {
        Router {
            servers,
            rest,
            term,
        }
    }

    /// The file logger for records of `target`.
    fn file(&self, target: &str) -> &dyn SharedLogger {
        match self.servers.get(target) {
            Some(logger) => logger.as_ref(),
            None => self.rest.as_ref(),
        }
    }
}

impl Log for Router {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.file(metadata.target()).enabled(metadata)
            || self.term.as_ref().is_some_and(|t| t.enabled(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        self.file(record.target()).log(record);
        if let Some(term) = &self.term {
            term.log(record);
        }
    }

    fn flush(&self) {
        for logger in self.servers.values() {
            logger.flush();
        }
        self.rest.flush();
        if let Some(term) = &self.term {
            term.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use log::{Level, LevelFilter};
    use simplelog::{ConfigBuilder, WriteLogger};

    use super::*;

    /// A file logger's bytes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            crate::sync::lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Kept {
        fn text(&self) -> String {
            String::from_utf8_lossy(&crate::sync::lock(&self.0)).into_owned()
        }
    }

    fn logger(level: LevelFilter, kept: &Kept) -> Box<dyn SharedLogger> {
        let cfg = ConfigBuilder::new()
            .set_time_level(LevelFilter::Off)
            .build();
        WriteLogger::new(level, cfg, kept.clone())
    }

    fn log(router: &Router, target: &str, level: Level, text: &str) {
        router.log(
            &Record::builder()
                .target(target)
                .level(level)
                .args(format_args!("{text}"))
                .build(),
        );
    }

    #[test]
    fn each_record_reaches_its_servers_file_only_and_warnings_reach_stderr_too() {
        let (clark, bona, rest, term) = (
            Kept::default(),
            Kept::default(),
            Kept::default(),
            Kept::default(),
        );
        let servers = HashMap::from([
            (
                "herd[Clark]".to_string(),
                logger(LevelFilter::Trace, &clark),
            ),
            ("herd[Bona]".to_string(), logger(LevelFilter::Trace, &bona)),
        ]);
        let router = Router::new(
            servers,
            logger(LevelFilter::Trace, &rest),
            Some(logger(LevelFilter::Warn, &term)),
        );
        log(&router, "herd[Clark]", Level::Info, "in  kiwi");
        log(&router, "herd[Bona]", Level::Warn, "link to Clark down");
        log(&router, "herd::demo", Level::Info, "step 1");
        log(&router, "herd[Clark]x", Level::Info, "not Clark's");
        assert_eq!(clark.text().lines().count(), 1, "{}", clark.text());
        assert!(clark.text().contains("in  kiwi"));
        assert_eq!(bona.text().lines().count(), 1, "{}", bona.text());
        assert!(bona.text().contains("link to Clark down"));
        assert!(rest.text().contains("step 1") && rest.text().contains("not Clark's"));
        assert_eq!(rest.text().lines().count(), 2, "{}", rest.text());
        assert_eq!(term.text().lines().count(), 1, "{}", term.text());
        assert!(term.text().contains("link to Clark down"));
        let info = Metadata::builder()
            .target("herd[Bona]")
            .level(Level::Info)
            .build();
        assert!(router.enabled(&info));
    }
}
