//! Tables and pass/fail verdicts.

/// One target of SPEC section 9 and what this run measured for it.
pub struct Verdict {
    pub case: String,
    pub measured: String,
    pub target: String,
    pub pass: bool,
}

impl Verdict {
    pub fn new(case: impl Into<String>, measured: String, target: &str, pass: bool) -> Verdict {
        Verdict {
            case: case.into(),
            measured,
            target: target.to_owned(),
            pass,
        }
    }
}

/// A plain-text table with right-aligned numeric columns.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let mut width: Vec<usize> = self.header.iter().map(String::len).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                width[i] = width[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = width[i])
                    } else {
                        format!("{c:>w$}", w = width[i])
                    }
                })
                .collect();
            println!("| {} |", parts.join(" | "));
        };
        line(&self.header);
        let rule: Vec<String> = width
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == 0 {
                    "-".repeat(w + 2)
                } else {
                    format!("{}:", "-".repeat(w + 1))
                }
            })
            .collect();
        println!("|{}|", rule.join("|"));
        for row in &self.rows {
            line(row);
        }
        println!();
    }
}

pub fn pass_fail(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

/// Frames per second as millions, e.g. "4.21 M".
pub fn mfps(fps: f64) -> String {
    format!("{:.2} M", fps / 1e6)
}

pub fn us(v: f64) -> String {
    format!("{v:.1} us")
}

pub fn print_verdicts(verdicts: &[Verdict]) {
    let mut t = Table::new(&["target (SPEC 9)", "measured", "target", "result"]);
    for v in verdicts {
        t.row(vec![
            v.case.clone(),
            v.measured.clone(),
            v.target.clone(),
            pass_fail(v.pass).to_owned(),
        ]);
    }
    t.print();
}
