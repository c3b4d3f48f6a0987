//! The training curves as a PNG: two panels side by side, loss (train and validation)
//! and accuracy (train and validation) against the epoch, with axis labels and a legend;
//! the loss alone, full width, for a run that measured no accuracy.
//!
//! Text is drawn with a font bundled in the crate (`assets/DejaVuSans-subset.ttf`, DejaVu
//! Sans cut down to ASCII and a few symbols, 14 KB; licence next to it) through
//! plotters' `ab_glyph` backend, so the plot renders the same on a server with no system
//! fonts. The font is registered under its own family name, so it never replaces a font
//! the application registered with plotters itself.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::atomic;
use crate::error::{Error, Result};
use crate::history::History;

/// The bundled font (see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// The family name the bundled font is registered under.
const FAMILY: &str = "lamina-dejavu-sans";

/// The default image size, width × height in pixels.
pub const DEFAULT_PLOT_SIZE: (u32, u32) = (1200, 480);

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180); // matplotlib's C0
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14); // and C1

/// Registers the bundled font once per process.
fn font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font does not parse".to_string())
        })
        .clone()
}

/// One curve: a legend label, a colour and `(epoch, value)` points.
struct Curve {
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Writes `history`'s curves to `path` as a PNG of `size` (width, height) pixels,
/// atomically. The loss panel scales to the data; the accuracy panel spans 0 to 1. A
/// metric that was never measured is left out of the legend, and a panel with nothing to
/// show says so; a history without any accuracy (a regression, a language model) gets the
/// loss panel alone, across the whole width.
///
/// ```
/// use lamina_train::{plot_history, EpochRecord, History, DEFAULT_PLOT_SIZE};
/// let mut h = History::new();
/// for e in 0..3 {
///     h.epochs.push(EpochRecord {
///         epoch: e, train_loss: 1.0 / (e + 1) as f64, train_acc: Some(0.5 + 0.1 * e as f64),
///         val_loss: None, val_acc: None, lr: 0.1, seconds: 0.0,
///     });
/// }
/// let path = std::env::temp_dir().join("lamina_doc_history.png");
/// plot_history(&h, &path, DEFAULT_PLOT_SIZE)?;
/// assert!(std::fs::read(&path)?.starts_with(b"\x89PNG\r\n\x1a\n"));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plot_history(history: &History, path: impl AsRef<Path>, size: (u32, u32)) -> Result<()> {
    let path = path.as_ref();
    let plot_err = |msg: String| Error::Plot {
        path: path.to_owned(),
        msg,
    };
    if size.0 < 300 || size.1 < 200 {
        return Err(plot_err(format!(
            "the image must be at least 300 × 200 pixels, got {} × {}",
            size.0, size.1
        )));
    }
    font().map_err(plot_err)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            action: "create directory",
            path: dir.to_owned(),
            source: e,
        })?;
    }
    let curve = |label, color, f: &dyn Fn(&crate::EpochRecord) -> Option<f64>| Curve {
        label,
        color,
        points: history
            .epochs
            .iter()
            // Epochs count from 1 on the axis, as in the progress lines and summaries.
            .filter_map(|r| {
                f(r).filter(|v| v.is_finite())
                    .map(|v| ((r.epoch + 1) as f64, v))
            })
            .collect(),
    };
    let losses = [
        curve("train", TRAIN_COLOR, &|r| Some(r.train_loss)),
        curve("validation", VAL_COLOR, &|r| r.val_loss),
    ];
    let accuracies = [
        curve("train", TRAIN_COLOR, &|r| r.train_acc),
        curve("validation", VAL_COLOR, &|r| r.val_acc),
    ];
    atomic::write_atomic_with(path, |tmp| {
        draw(tmp, size, &losses, &accuracies).map_err(plot_err)
    })
}

/// The x range: every epoch of every panel, at least one unit wide.
fn epoch_range(panels: &[&[Curve]]) -> (f64, f64) {
    let xs = panels
        .iter()
        .flat_map(|cs| cs.iter())
        .flat_map(|c| c.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi - lo < 1.0 {
        (lo - 0.5, lo + 0.5)
    } else {
        // A little room either side, so the end markers are not cut in half.
        let pad = 0.02 * (hi - lo);
        (lo - pad, hi + pad)
    }
}

/// The y range of the losses with 5% headroom, starting at 0 when the lowest loss is
/// closer to 0 than half the spread.
fn loss_range(curves: &[Curve]) -> (f64, f64) {
    let ys = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-9 * hi.abs().max(1.0) {
        // One value (or a flat line): centre it rather than zoom into rounding noise.
        return if lo > 0.0 {
            (0.0, 2.0 * hi)
        } else {
            (lo - 1.0, hi + 1.0)
        };
    }
    let span = hi - lo;
    let lo = if lo >= 0.0 && lo < 0.5 * span {
        0.0
    } else {
        lo - 0.05 * span
    };
    (lo, hi + 0.05 * span)
}

fn draw(
    path: &Path,
    size: (u32, u32),
    losses: &[Curve],
    accuracies: &[Curve],
) -> std::result::Result<(), String> {
    // Drawn into an RGB buffer and encoded by `png` here: plotters' own encoder would
    // bring the whole `image` crate into the build for one format.
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_panels(&root, size, losses, accuracies)?;
        root.present().map_err(|e| e.to_string())?;
    }
    write_png(path, size, &rgb)
}

/// Encodes an 8-bit RGB buffer of `size` pixels as a PNG file.
fn write_png(path: &Path, size: (u32, u32), rgb: &[u8]) -> std::result::Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

fn draw_panels(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    size: (u32, u32),
    losses: &[Curve],
    accuracies: &[Curve],
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (x0, x1) = epoch_range(&[losses, accuracies]);
    let (y0, y1) = loss_range(losses);
    if accuracies.iter().all(|c| c.points.is_empty()) {
        return panel(
            root,
            "Loss",
            "loss",
            (x0, x1),
            (y0, y1),
            losses,
            SeriesLabelPosition::UpperRight,
        );
    }
    let (left, right) = root.split_horizontally(size.0 / 2);
    panel(
        &left,
        "Loss",
        "loss",
        (x0, x1),
        (y0, y1),
        losses,
        SeriesLabelPosition::UpperRight,
    )?;
    panel(
        &right,
        "Accuracy",
        "accuracy",
        (x0, x1),
        accuracy_range(accuracies),
        accuracies,
        SeriesLabelPosition::LowerRight,
    )
}

/// The accuracy axis: from a little below the lowest value (a multiple of 0.05, never below
/// 0) to just above 1, so curves in the high nineties are not squashed flat.
fn accuracy_range(curves: &[Curve]) -> (f64, f64) {
    let lo = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() {
        ((lo - 0.02) / 0.05).floor() * 0.05
    } else {
        0.0
    };
    (lo.clamp(0.0, 0.95), 1.005)
}

/// Epoch ticks as integers; fractional ticks (which plotters may place on a short
/// range) get no label.
fn epoch_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    curves: &[Curve],
    legend_at: SeriesLabelPosition,
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    let n_epochs = (x1 - x0).round() as usize + 1;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(n_epochs.clamp(2, 11))
        .y_labels(8)
        .x_label_formatter(&epoch_label)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(&e))?;
    let mut any = false;
    for c in curves.iter().filter(|c| !c.points.is_empty()) {
        any = true;
        let color = c.color;
        chart
            .draw_series(LineSeries::new(c.points.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(c.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        // Markers, so a one-epoch history still shows its point.
        chart
            .draw_series(c.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    if any {
        chart
            .configure_series_labels()
            .position(legend_at)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 14))
            .draw()
            .map_err(|e| err(&e))?;
    } else {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            format!("no {y_desc} recorded"),
            (w as i32 / 2 - 60, h as i32 / 2),
            (FAMILY, 16).into_font().color(&RGBColor(120, 120, 120)),
        ))
        .map_err(|e| err(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EpochRecord;

    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    pub(crate) fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
        if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
            return None;
        }
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Some((be(&bytes[16..20]), be(&bytes[20..24])))
    }

    fn history(n: usize, with_val: bool) -> History {
        History {
            epochs: (0..n)
                .map(|e| {
                    let t = e as f64;
                    EpochRecord {
                        epoch: e,
                        train_loss: 1.2 * (-0.3 * t).exp() + 0.05,
                        train_acc: Some(1.0 - 0.5 * (-0.4 * t).exp()),
                        val_loss: with_val.then(|| 1.25 * (-0.25 * t).exp() + 0.1),
                        val_acc: with_val.then(|| 1.0 - 0.55 * (-0.35 * t).exp()),
                        lr: 0.01,
                        seconds: 0.1,
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn writes_a_png_of_the_requested_size() -> Result<()> {
        let dir = crate::testing::scratch_dir("plot");
        let path = dir.join("history.png");
        plot_history(&history(12, true), &path, DEFAULT_PLOT_SIZE)?;
        let bytes = atomic::read(&path)?;
        assert_eq!(png_size(&bytes), Some(DEFAULT_PLOT_SIZE));
        // Two more shapes: one epoch, and no validation or accuracy at all.
        let mut bare = history(1, false);
        bare.epochs[0].train_acc = None;
        let bare_path = dir.join("bare.png");
        plot_history(&bare, &bare_path, (640, 360))?;
        assert_eq!(png_size(&atomic::read(&bare_path)?), Some((640, 360)));
        // Nothing but the PNGs in the directory: the temporary files were renamed.
        assert_eq!(std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0), 2);
        Ok(())
    }

    #[test]
    fn without_accuracy_the_loss_takes_the_whole_width() -> Result<()> {
        // A language model's history: losses only. Its curves reach into the right half,
        // where the accuracy panel would otherwise sit empty.
        let dir = crate::testing::scratch_dir("plot_loss_only");
        let mut h = history(10, true);
        for r in &mut h.epochs {
            (r.train_acc, r.val_acc) = (None, None);
        }
        let path = dir.join("loss.png");
        plot_history(&h, &path, (800, 400))?;
        let decoder = png::Decoder::new(std::io::Cursor::new(atomic::read(&path)?));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut rgb = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut rgb).expect("one frame");
        let RGBColor(r, g, b) = TRAIN_COLOR;
        let right_half_train_pixels = rgb
            .chunks(3)
            .enumerate()
            .filter(|(i, p)| i % 800 >= 400 && p == &[r, g, b])
            .count();
        assert!(right_half_train_pixels > 50, "{right_half_train_pixels}");
        Ok(())
    }

    #[test]
    fn a_tiny_image_is_a_clear_error() {
        let e = plot_history(&history(2, true), "x.png", (10, 10)).unwrap_err();
        assert!(e.to_string().contains("at least 300 × 200 pixels"), "{e}");
    }
}
