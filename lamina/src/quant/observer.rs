//! Observers: what calibration records about an activation to choose its `u8` range.
//! `MinMax` keeps the extremes (PyTorch's `MinMaxObserver`); `Percentile(p)` keeps a
//! strided sample of the values and clips the range to their `p`-th and `(100 − p)`-th
//! percentiles, so a few outliers do not stretch the scale for everything else.

use super::QParams;

/// How an activation's range is chosen from calibration data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observer {
    /// The smallest and largest values seen.
    MinMax,
    /// The `p`-th and `(100 − p)`-th percentiles of the values seen (`p` in `(50, 100]`,
    /// e.g. 99.99).
    Percentile(f64),
}

/// Most values a percentile observer keeps (a strided sample beyond that).
const SAMPLE: usize = 1 << 20;

/// The state of one observer over the calibration batches.
#[derive(Clone, Debug)]
pub struct Observed {
    kind: Observer,
    min: f32,
    max: f32,
    sample: Vec<f32>,
}

impl Observed {
    pub fn new(kind: Observer) -> Observed {
        Observed {
            kind,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            sample: Vec::new(),
        }
    }

    /// Records a batch of values (NaN ignored).
    pub fn observe(&mut self, values: &[f32]) {
        for &v in values.iter().filter(|v| !v.is_nan()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        if let Observer::Percentile(_) = self.kind {
            // Every value while the sample has room, then every k-th of each batch.
            let room = SAMPLE.saturating_sub(self.sample.len()).max(SAMPLE / 64);
            let step = values.len().div_ceil(room).max(1);
            self.sample
                .extend(values.iter().step_by(step).filter(|v| !v.is_nan()));
        }
    }

    /// Whether anything was observed.
    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    /// The activation's parameters (`None` before any value was observed).
    pub fn qparams(&self) -> Option<QParams> {
        if self.is_empty() {
            return None;
        }
        let (lo, hi) = match self.kind {
            Observer::MinMax => (self.min, self.max),
            Observer::Percentile(p) => {
                let mut s = self.sample.clone();
                s.sort_by(f32::total_cmp);
                let at = |q: f64| s[((q / 100.0) * (s.len() - 1) as f64).round() as usize];
                (at(100.0 - p), at(p))
            }
        };
        Some(QParams::from_range(lo, hi))
    }
}
