//! The random source of one fuzz call: a SplitMix64 stream seeded by (run seed, call
//! number), so any call can be replayed alone, and the inputs it drew (as plain
//! `TensorSpec`s, printed in full when the call fails).

use crate::rng::mix64;
use crate::testing::reference::numel;
use crate::testing::strategies::{LayoutKind, TensorSpec};
use crate::{DType, Device, Tensor};

/// Every dtype, F32 most often.
const DTYPES: [DType; 10] = [
    DType::F32,
    DType::F32,
    DType::F32,
    DType::F64,
    DType::F64,
    DType::I64,
    DType::U32,
    DType::Bool,
    DType::F16,
    DType::BF16,
];

/// Draws the arguments of one call and remembers the tensors it built.
pub struct Draw {
    state: u64,
    pub dev: Device,
    /// `(name, spec)` of every tensor drawn, for the failure message.
    pub inputs: Vec<(&'static str, TensorSpec)>,
}

impl Draw {
    /// The stream of call `call` of a run seeded with `seed`.
    pub fn new(seed: u64, call: u64, dev: &Device) -> Draw {
        Draw {
            state: mix64(seed ^ mix64(call.wrapping_add(0x5eed))),
            dev: *dev,
            inputs: Vec::new(),
        }
    }

    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    /// True with probability `percent / 100`.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    pub fn bool(&mut self) -> bool {
        self.chance(50)
    }

    /// One extent: mostly 1–3, sometimes 0, 4 or 5.
    pub fn extent(&mut self) -> usize {
        self.pick(&[0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5])
    }

    /// A shape of rank 0–4 (ranks 1–3 most often).
    pub fn shape(&mut self) -> Vec<usize> {
        let rank = self.pick(&[0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4]);
        self.shape_of_rank(rank)
    }

    pub fn shape_of_rank(&mut self, rank: usize) -> Vec<usize> {
        (0..rank).map(|_| self.extent()).collect()
    }

    /// A shape that broadcasts with `s` (leading dims dropped, some set to 1), or now and
    /// then an unrelated one.
    pub fn partner_shape(&mut self, s: &[usize]) -> Vec<usize> {
        if self.chance(20) {
            return self.shape();
        }
        let drop = if self.chance(70) {
            0
        } else {
            self.below(s.len() + 1)
        };
        let mut out: Vec<usize> = s[drop..]
            .iter()
            .map(|&d| if self.chance(30) { 1 } else { d })
            .collect();
        if self.chance(15) {
            out.insert(0, self.extent());
        }
        out
    }

    pub fn dtype(&mut self) -> DType {
        self.pick(&DTYPES)
    }

    pub fn float_dtype(&mut self) -> DType {
        self.pick(&[DType::F32, DType::F32, DType::F64, DType::F16, DType::BF16])
    }

    /// A dim argument for a tensor of `rank`: mostly in range (0-d tensors take 0 and -1),
    /// sometimes just outside it, sometimes far outside.
    pub fn dim(&mut self, rank: usize) -> isize {
        let r = rank.max(1) as isize;
        match self.below(10) {
            0 => r,
            1 => -r - 1,
            2 => self.pick(&[-7, 6, isize::MIN, isize::MAX]),
            _ => self.int(-(r as i64), r as i64 - 1) as isize,
        }
    }

    /// 0 to rank + 1 dim arguments (repeats possible).
    pub fn dims(&mut self, rank: usize) -> Vec<isize> {
        let n = self.below(rank + 2);
        (0..n).map(|_| self.dim(rank)).collect()
    }

    /// A small count or size: mostly `0..=max`, now and then larger.
    pub fn count(&mut self, max: usize) -> usize {
        if self.chance(10) {
            self.pick(&[max + 1, max + 3, 7])
        } else {
            self.below(max + 1)
        }
    }

    /// A value of `dtype`: small numbers, some zeros, now and then NaN or ±inf.
    pub fn value(&mut self, dtype: DType) -> f64 {
        match dtype {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => match self.below(40) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => self.pick(&[-2.0, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0]),
            },
            DType::I64 => self.int(-3, 3) as f64,
            DType::U32 => self.int(0, 6) as f64,
            DType::Bool => self.below(2) as f64,
        }
    }

    /// A layout for a tensor of `shape`: contiguous or a view (permuted, narrowed,
    /// selected, expanded), nested up to `depth`.
    fn layout(&mut self, shape: &[usize], depth: u32, expand: bool) -> LayoutKind {
        let rank = shape.len();
        if depth == 0 || self.chance(40) {
            return LayoutKind::Contiguous;
        }
        loop {
            match self.below(4) {
                0 if rank >= 2 => {
                    let mut perm: Vec<usize> = (0..rank).collect();
                    for i in (1..rank).rev() {
                        perm.swap(i, self.below(i + 1));
                    }
                    let mut src = vec![0; rank];
                    for (i, &p) in perm.iter().enumerate() {
                        src[p] = shape[i];
                    }
                    let inner = Box::new(self.layout(&src, depth - 1, false));
                    return LayoutKind::Permuted { perm, inner };
                }
                1 if rank >= 1 => {
                    let (dim, before, after) = (self.below(rank), self.below(3), self.below(3));
                    let mut src = shape.to_vec();
                    src[dim] += before + after;
                    let inner = Box::new(self.layout(&src, depth - 1, false));
                    return LayoutKind::Narrowed {
                        dim,
                        before,
                        after,
                        inner,
                    };
                }
                2 => {
                    let index = self.below(2);
                    let mut src = shape.to_vec();
                    src.push(2);
                    let inner = Box::new(self.layout(&src, depth - 1, false));
                    return LayoutKind::Selected { index, inner };
                }
                3 if expand && rank >= 1 => {
                    let lead = if self.chance(75) {
                        0
                    } else {
                        self.below(rank + 1)
                    };
                    let base: Vec<usize> = (lead..rank)
                        .map(|i| if self.bool() { 1 } else { shape[i] })
                        .collect();
                    let inner = Box::new(self.layout(&base, depth - 1, false));
                    return LayoutKind::Expanded { base, inner };
                }
                _ => {}
            }
        }
    }

    /// A spec of `shape` and `dtype` in a random layout, with values from `value`.
    pub fn spec(&mut self, shape: Vec<usize>, dtype: DType) -> TensorSpec {
        let layout = self.layout(&shape, 2, true);
        let n = match &layout {
            LayoutKind::Expanded { base, .. } => numel(base),
            _ => numel(&shape),
        };
        let data = (0..n).map(|_| self.value(dtype)).collect();
        TensorSpec {
            shape,
            dtype,
            layout,
            data,
        }
    }

    /// Builds `spec` on the device and records it as input `name`.
    pub fn build(&mut self, name: &'static str, spec: TensorSpec) -> Tensor {
        let t = spec.build(&self.dev);
        self.inputs.push((name, spec));
        match t {
            Ok(t) => t,
            Err(e) => panic!("building input {name}: {e}"),
        }
    }

    /// The logical values (row-major) of the last tensor drawn.
    pub fn last_values(&self) -> Vec<f64> {
        self.inputs
            .last()
            .map_or(Vec::new(), |(_, spec)| spec.reference().data)
    }

    /// A tensor of `shape` and `dtype` in a random layout.
    pub fn tensor(&mut self, name: &'static str, shape: Vec<usize>, dtype: DType) -> Tensor {
        let spec = self.spec(shape, dtype);
        self.build(name, spec)
    }

    /// A tensor of a random shape and dtype.
    pub fn any(&mut self, name: &'static str) -> Tensor {
        let (shape, dtype) = (self.shape(), self.dtype());
        self.tensor(name, shape, dtype)
    }

    /// A float tensor of a random shape, or now and then another dtype.
    pub fn mostly_float(&mut self, name: &'static str) -> Tensor {
        let shape = self.shape();
        let dtype = if self.chance(85) {
            self.float_dtype()
        } else {
            self.dtype()
        };
        self.tensor(name, shape, dtype)
    }

    /// An index tensor of `shape` for a dim of size `bound`: I64 mostly, U32 or a float
    /// or bool dtype now and then; values mostly in `0..bound`, sometimes negative or
    /// past the end. Returns the tensor and its values.
    pub fn ids(
        &mut self,
        name: &'static str,
        shape: Vec<usize>,
        bound: usize,
    ) -> (Tensor, Vec<i64>) {
        let dtype = self.pick(&[
            DType::I64,
            DType::I64,
            DType::I64,
            DType::I64,
            DType::I64,
            DType::I64,
            DType::U32,
            DType::U32,
            DType::F32,
            DType::Bool,
        ]);
        let bad = self.chance(15);
        let values: Vec<i64> = (0..numel(&shape))
            .map(|_| {
                if bad && self.chance(40) || bound == 0 {
                    self.pick(&[-1, -2, bound as i64, bound as i64 + 1])
                } else {
                    self.below(bound) as i64
                }
            })
            .map(|v| match dtype {
                DType::U32 => v.max(0),
                DType::Bool => v.clamp(0, 1),
                _ => v,
            })
            .collect();
        let layout = self.layout(&shape, 1, false);
        let spec = TensorSpec {
            shape,
            dtype,
            layout,
            data: values.iter().map(|&v| v as f64).collect(),
        };
        (self.build(name, spec), values)
    }

    /// The shape of an index for `shape` along `dim`: mostly fitting (no larger than
    /// `shape` off `dim`), sometimes of another rank or larger.
    pub fn index_shape(&mut self, shape: &[usize], dim: Option<usize>) -> Vec<usize> {
        if self.chance(10) {
            return self.shape();
        }
        shape
            .iter()
            .enumerate()
            .map(|(i, &n)| match (Some(i) == dim, self.below(10)) {
                (true, _) => self.below(4),
                (false, 0) => n + 1,
                (false, 1..=3) => self.below(n + 1),
                _ => n,
            })
            .collect()
    }
}
