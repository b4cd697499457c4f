//! The progress bar the long commands draw on standard error (`rebuild`, `export`, `import`):
//! `[=====>    ]  45% 12345/27000 events`, redrawn at most every `BAR_REDRAW_MS`; one line per
//! drawing when standard error is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Characters between the brackets of the progress bar.
const BAR_WIDTH: usize = 30;
/// Redraws at most this often (and always at the end).
const BAR_REDRAW_MS: u64 = 100;

/// A progress bar drawn by hand on standard error: `[=====>    ]  45% 12345/27000 events`.
pub struct Bar {
    what: &'static str,
    last: Option<Instant>,
    drawn: bool,
}

impl Bar {
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            last: None,
            drawn: false,
        }
    }

    /// Draws `done` out of `total`, with `note` after it.
    pub fn draw(&mut self, done: u64, total: u64, note: &str) {
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now - t >= Duration::from_millis(BAR_REDRAW_MS));
        if !due && done < total {
            return;
        }
        self.last = Some(now);
        self.drawn = true;
        eprint!("\r{} {}", render(done, total), self.what);
        if !note.is_empty() {
            eprint!(" {note}");
        }
        // When standard error is a file or a pipe, each drawing is a line of its own.
        if !std::io::stderr().is_terminal() {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }

    pub fn finish(&self) {
        if self.drawn && std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
}

/// `[=====>    ]  45% 12345/27000`.
fn render(done: u64, total: u64) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    let bar: String = (0..BAR_WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    format!("[{bar}] {:>3.0}% {done}/{total}", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_fraction_done() {
        assert_eq!(
            render(0, 10),
            format!("[>{}]   0% 0/10", " ".repeat(BAR_WIDTH - 1))
        );
        let half = render(5, 10);
        assert!(
            half.starts_with(&format!("[{}>", "=".repeat(BAR_WIDTH / 2))),
            "{half}"
        );
        assert!(half.ends_with(" 50% 5/10"), "{half}");
        assert_eq!(
            render(10, 10),
            format!("[{}] 100% 10/10", "=".repeat(BAR_WIDTH))
        );
        assert!(render(0, 0).contains("100%"));
    }
}
