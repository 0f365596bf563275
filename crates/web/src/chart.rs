//! Bar charts as inline SVG, drawn on the server: no script, readable without one, scaled
//! by the browser to the width of the page.

use std::fmt::Write as _;

/// One bar: its label, its value, and the value as shown.
#[derive(Debug, Clone)]
pub struct Bar {
    /// What the bar is (a programme, a region, a month).
    pub label: String,
    /// Its length.
    pub value: i64,
    /// The value as the chart prints it beside the bar.
    pub shown: String,
}

impl Bar {
    /// A bar of `value`, labelled `label`, printed as `shown`.
    pub fn new(label: &str, value: i64, shown: String) -> Bar {
        Bar {
            label: label.to_string(),
            value,
            shown,
        }
    }
}

/// [`horizontal`] with a bar for each of `items`.
pub fn of<T>(title: &str, items: &[T], bar: impl Fn(&T) -> Bar) -> String {
    horizontal(title, &items.iter().map(bar).collect::<Vec<_>>())
}

const WIDTH: i64 = 640;
const ROW: i64 = 22;
const LABEL: i64 = 190;
const VALUE: i64 = 120;

/// A horizontal bar chart of `bars`, titled `title` (for screen readers).
pub fn horizontal(title: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as i64 + 4;
    let longest = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let room = WIDTH - LABEL - VALUE;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = i as i64 * ROW + 2;
        let length = (bar.value.max(0) * room / longest).max(i64::from(bar.value > 0));
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" class="label">{}</text><rect x="{LABEL}" y="{}" width="{length}" height="{}" class="bar"><title>{}: {}</title></rect><text x="{}" y="{}" class="value">{}</text>"#,
            LABEL - 6,
            y + 15,
            escape(&bar.label),
            y + 3,
            ROW - 6,
            escape(&bar.label),
            escape(&bar.shown),
            LABEL + length + 6,
            y + 15,
            escape(&bar.shown),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// `text` safe inside SVG text and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Bar, horizontal};

    #[test]
    fn bars_scale_to_the_longest_and_labels_are_escaped() {
        let bar = |label: &str, value: i64| Bar::new(label, value, value.to_string());
        let svg = horizontal(
            "a <chart>",
            &[bar("R01 <b>", 100), bar("R02", 50), bar("R03", 0)],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"aria-label="a &lt;chart&gt;""#));
        assert!(svg.contains("R01 &lt;b&gt;") && !svg.contains("<b>"));
        assert!(
            svg.contains(r#"width="330""#),
            "the longest bar fills the room: {svg}"
        );
        assert!(svg.contains(r#"width="165""#), "half as long: {svg}");
        assert!(svg.contains(r#"width="0""#), "an empty bar: {svg}");
    }
}
