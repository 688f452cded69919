//! The text of one `services.toml` and the mapping from byte offsets to lines and columns.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// One configuration file: its path (as given, used only in messages) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    path: PathBuf,
    text: String,
    /// Byte offset where each line starts; always starts with 0.
    line_starts: Vec<usize>,
}

impl Source {
    pub(crate) fn new(path: &Path, text: &str) -> Self {
        let mut line_starts = Vec::with_capacity(text.len() / 32 + 1);
        line_starts.push(0);
        line_starts.extend(memchr_newlines(text));
        Source {
            path: path.to_path_buf(),
            text: text.to_owned(),
            line_starts,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The 0-based index of the line holding `offset` (clamped to the text).
    pub(crate) fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// 1-based line and 1-based column (counted in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_char_boundary(offset);
        let index = self.line_index(offset);
        let start = self.line_starts[index];
        let column = self.text[start..offset].chars().count() + 1;
        (index + 1, column)
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.line_index(offset) + 1
    }

    /// The byte range of whole lines `first..=last` (0-based), without the final newline.
    pub(crate) fn lines_range(&self, first: usize, last: usize) -> Range<usize> {
        let start = self
            .line_starts
            .get(first)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(last + 1)
            .map_or(self.text.len(), |next| next.saturating_sub(1));
        let end = end.max(start);
        // A CRLF file: keep the `\r` out of the rendered line.
        let end = if end > start && self.text.as_bytes().get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        start..end
    }

    /// The largest char boundary at or below `offset`, clamped to the text.
    pub(crate) fn floor_char_boundary(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The smallest char boundary at or above `offset`, clamped to the text.
    pub(crate) fn ceil_char_boundary(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset += 1;
        }
        offset
    }
}

fn memchr_newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let s = Source::new(Path::new("a.toml"), "ab\ncdé\n\nx");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(1), (1, 2));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(5), (2, 3));
        // inside the two bytes of `é`: floor to its start
        assert_eq!(s.line_col(6), (2, 3));
        assert_eq!(s.line_col(7), (2, 4));
        assert_eq!(s.line_col(8), (3, 1));
        assert_eq!(s.line_col(9), (4, 1));
        assert_eq!(s.line_col(10), (4, 2));
        assert_eq!(s.line_col(1000), (4, 2));
        assert_eq!(&s.text()[s.lines_range(1, 1)], "cdé");
        assert_eq!(&s.text()[s.lines_range(3, 3)], "x");
    }
}
