//! Observers: what calibration records about an activation to choose its `u8` range.
//! `MinMax` keeps the extremes (PyTorch's `MinMaxObserver`); `Percentile(p)` keeps an
//! evenly strided sample of every value seen (at most [`SAMPLE`] of them) and clips the range to their `p`-th and `(100 − p)`-th
//! percentiles, so a few outliers do not stretch the scale for everything else.
//! Quantisation-aware training follows ranges that move as the weights do:
//! [`MovingAverageMinMax`] (PyTorch's `MovingAverageMinMaxObserver`).

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

/// Most values a percentile observer keeps: past that, every other one is dropped and the
/// stride doubles, so the sample stays even over all batches.
pub const SAMPLE: usize = 1 << 20;

/// The state of one observer over the calibration batches.
#[derive(Clone, Debug)]
pub struct Observed {
    kind: Observer,
    min: f32,
    max: f32,
    sample: Vec<f32>,
    /// The sample keeps value `k` of the stream when `k % stride == 0`.
    stride: usize,
    /// Values seen so far (NaN excluded).
    seen: usize,
}

impl Observed {
    pub fn new(kind: Observer) -> Observed {
        Observed {
            kind,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            sample: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }

    /// Records a batch of values (NaN ignored).
    pub fn observe(&mut self, values: &[f32]) {
        for &v in values.iter().filter(|v| !v.is_nan()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        if let Observer::Percentile(_) = self.kind {
            for &v in values.iter().filter(|v| !v.is_nan()) {
                if self.seen.is_multiple_of(self.stride) {
                    self.sample.push(v);
                    if self.sample.len() > SAMPLE {
                        // Keep the values at even multiples of the stride: the new stride's.
                        let mut i = 0;
                        self.sample.retain(|_| {
                            i += 1;
                            i % 2 == 1
                        });
                        self.stride *= 2;
                    }
                }
                self.seen += 1;
            }
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

/// PyTorch's `MovingAverageMinMaxObserver`: the first batch sets the range to its
/// extremes; each later one moves it by `c` of the way to its own,
/// `min ← min + c · (min_batch − min)` (and `max` alike), in f32 in PyTorch's order, with
/// `c` the averaging constant (0.01 by default). The parameters are those of
/// [`QParams::from_range`] over the averaged range (`quint8`, affine per tensor).
///
/// NaN is ignored (PyTorch's range would become NaN); a batch with no other value leaves
/// the range as it was (PyTorch returns early on an empty one).
///
/// ```
/// use lamina::quant::MovingAverageMinMax;
/// let mut obs = MovingAverageMinMax::new();
/// obs.observe(&[-1.0, 2.0]);
/// obs.observe(&[-1.0, 102.0]);
/// assert_eq!(obs.range(), Some((-1.0, 3.0))); // 2 + 0.01 · (102 − 2)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MovingAverageMinMax {
    averaging_constant: f32,
    /// `+∞` and `−∞` before the first batch, as PyTorch's buffers start.
    min: f32,
    max: f32,
}

impl Default for MovingAverageMinMax {
    fn default() -> Self {
        MovingAverageMinMax::new()
    }
}

impl MovingAverageMinMax {
    /// PyTorch's default averaging constant.
    pub const AVERAGING_CONSTANT: f32 = 0.01;

    /// An observer with the default averaging constant, 0.01, that has seen nothing.
    pub fn new() -> MovingAverageMinMax {
        MovingAverageMinMax::with_averaging_constant(Self::AVERAGING_CONSTANT)
    }

    /// An observer moving by `c` of the way to each batch's range (`c` in `(0, 1]`; 1
    /// keeps only the latest batch's).
    pub fn with_averaging_constant(c: f32) -> MovingAverageMinMax {
        MovingAverageMinMax {
            averaging_constant: c,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    /// The averaging constant.
    pub fn averaging_constant(&self) -> f32 {
        self.averaging_constant
    }

    /// Moves the range towards a batch's extremes (sets it, for the first batch).
    pub fn observe(&mut self, values: &[f32]) {
        let (lo, hi) = values
            .iter()
            .filter(|v| !v.is_nan())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            return;
        }
        if self.range().is_none() {
            (self.min, self.max) = (lo, hi);
        } else {
            let c = self.averaging_constant;
            self.min = self.min + c * (lo - self.min);
            self.max = self.max + c * (hi - self.max);
        }
    }

    /// The averaged `(min, max)`, `None` before the first batch.
    pub fn range(&self) -> Option<(f32, f32)> {
        // PyTorch's test for "nothing seen yet": both buffers at their initial infinities.
        let empty = self.min == f32::INFINITY && self.max == f32::NEG_INFINITY;
        (!empty).then_some((self.min, self.max))
    }

    /// Sets the range (`+∞, −∞`: nothing seen), as a checkpoint restores it.
    pub fn set_range(&mut self, min: f32, max: f32) {
        (self.min, self.max) = (min, max);
    }

    /// The activation's parameters over the averaged range (`None` before any batch).
    pub fn qparams(&self) -> Option<QParams> {
        self.range().map(|(lo, hi)| QParams::from_range(lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_sample_stays_bounded_and_even_over_many_batches() {
        // A ramp of 3·SAMPLE + 5 values in batches: the sample never passes SAMPLE, and its
        // percentiles are the ramp's to within the stride.
        let n = 3 * SAMPLE + 5;
        let mut obs = Observed::new(Observer::Percentile(99.0));
        let ramp: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
        for batch in ramp.chunks(100_003) {
            obs.observe(batch);
            assert!(obs.sample.len() <= SAMPLE, "{}", obs.sample.len());
        }
        assert_eq!(obs.stride, 4);
        let want = QParams::from_range(0.01, 0.99);
        let got = obs.qparams().unwrap();
        assert!(
            (got.scale - want.scale).abs() <= 1e-4 * want.scale,
            "{got:?} vs {want:?}"
        );
        assert_eq!(got.zero_point, want.zero_point);
    }
}
