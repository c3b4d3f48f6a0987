//! Shared helpers of the gradient property tests.
#![allow(dead_code)]

use lamina_autograd::{gradcheck, GradcheckConfig, Tape};
use lamina_backend_cpu::CpuBackend;
use lamina_tensor::backend::MatmulSpec;
use lamina_tensor::{
    Backend, BinaryOp, CmpOp, DType, Device, Distribution, HostData, Layout, ReduceOp, Result,
    ScanOp, ScatterReduce, Storage, StorageRef, Tensor, UnaryOp,
};
use proptest::test_runner::TestCaseError;

/// The device the tests run on: the CPU, or CUDA device 0 when `LAMINA_TEST_DEVICE=cuda`
/// (which then must exist: asking for it without one is a test failure, not a skip).
pub fn dev() -> Device {
    match std::env::var("LAMINA_TEST_DEVICE").as_deref() {
        Ok("cuda") => lamina_backend_cuda::device(0)
            .unwrap_or_else(|e| panic!("LAMINA_TEST_DEVICE=cuda, but {e}")),
        _ => lamina_backend_cpu::device(),
    }
}

/// Cases per property: 128 (the floor) unless `LAMINA_GRAD_CASES` says otherwise.
pub fn cases() -> u32 {
    std::env::var("LAMINA_GRAD_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// `sum(w ⊙ y²)` for a fixed `w`: a loss whose Hessian passes through `y`'s rule twice.
pub fn weighted_square(y: &Tensor) -> Result<Tensor> {
    let w = Tensor::rand_uniform(17, 0.5, 1.5, y.shape(), y.dtype(), y.device())?;
    (y.square()? * w)?.sum_all()
}

/// The gradient of `loss` with respect to each of `xs`, computed on its own tape inside
/// whatever tape is recording (gradcheck's), flattened and concatenated: a gradcheck of
/// this checks second derivatives, through the rules' own recorded ops.
pub fn grads_of(xs: &[Tensor], loss: impl Fn(&[Tensor]) -> Result<Tensor>) -> Result<Tensor> {
    let tape = Tape::new();
    for x in xs {
        tape.watch(x);
    }
    let y = loss(xs)?;
    let g = tape.backward(&y)?;
    let parts: Vec<Tensor> = xs
        .iter()
        .map(|x| match g.get(x) {
            Some(g) => g.flatten_all(),
            None => x.zeros_like()?.flatten_all(),
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = parts.iter().collect();
    Tensor::cat(&refs, 0)
}

/// Fails the case with the report when `gradcheck` finds a mismatch.
pub fn check(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: Vec<Tensor>,
) -> Result<(), TestCaseError> {
    let report = gradcheck(f, &inputs, &GradcheckConfig::default())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    if !report.passed() {
        return Err(TestCaseError::fail(format!("gradcheck failed:\n{report}")));
    }
    Ok(())
}

pub fn tc<T>(r: Result<T>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}

/// Runs `test` as one proptest per op (each with `cases` cases and its own strategy), then
/// fails once, listing every op that failed with its minimal input: a broken op does not
/// hide the ones after it. For tests that iterate over an op table, so that a new row is
/// checked without a new test. `source` is the calling file (`file!()`), where proptest
/// keeps the seeds of past failures.
pub fn for_each_op<O, S>(
    source: &'static str,
    ops: &[O],
    cases: u32,
    strategy: impl Fn(&O) -> S,
    test: impl Fn(&O, S::Value) -> Result<(), TestCaseError>,
) where
    O: std::fmt::Debug,
    S: proptest::strategy::Strategy,
{
    use proptest::test_runner::{Config, TestRunner};
    let mut failures = Vec::new();
    for op in ops {
        let config = Config {
            cases,
            source_file: Some(source),
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&strategy(op), |v| test(op, v)) {
            failures.push(format!("{op:?}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} ops failed:\n\n{}",
        failures.len(),
        ops.len(),
        failures.join("\n\n")
    );
}

/// The CPU backend without its optional kernels (convolution, normalisation, ...): every
/// required method delegates, the optional ones keep the trait's `None`, so the tensor
/// layer runs the composite defaults, as it would on a new backend.
#[derive(Debug)]
pub struct Composite(CpuBackend);

impl Backend for Composite {
    fn name(&self) -> String {
        "cpu without optional kernels".into()
    }
    fn zeros(&self, len: usize, dtype: DType) -> Result<StorageRef> {
        self.0.zeros(len, dtype)
    }
    fn from_host(&self, data: HostData) -> Result<StorageRef> {
        self.0.from_host(data)
    }
    fn to_host(&self, src: &dyn Storage, layout: &Layout) -> Result<HostData> {
        self.0.to_host(src, layout)
    }
    fn copy_strided(
        &self,
        s: &dyn Storage,
        sl: &Layout,
        d: &mut dyn Storage,
        dl: &Layout,
    ) -> Result<()> {
        self.0.copy_strided(s, sl, d, dl)
    }
    fn cast(&self, src: &dyn Storage, layout: &Layout, dtype: DType) -> Result<StorageRef> {
        self.0.cast(src, layout, dtype)
    }
    fn unary(&self, op: UnaryOp, src: &dyn Storage, layout: &Layout) -> Result<StorageRef> {
        self.0.unary(op, src, layout)
    }
    fn binary(
        &self,
        op: BinaryOp,
        a: &dyn Storage,
        al: &Layout,
        b: &dyn Storage,
        bl: &Layout,
    ) -> Result<StorageRef> {
        self.0.binary(op, a, al, b, bl)
    }
    fn binary_assign(
        &self,
        op: BinaryOp,
        d: &mut dyn Storage,
        dl: &Layout,
        r: &dyn Storage,
        rl: &Layout,
    ) -> Result<()> {
        self.0.binary_assign(op, d, dl, r, rl)
    }
    fn unary_assign(&self, op: UnaryOp, d: &mut dyn Storage, dl: &Layout) -> Result<()> {
        self.0.unary_assign(op, d, dl)
    }
    fn cmp(
        &self,
        op: CmpOp,
        a: &dyn Storage,
        al: &Layout,
        b: &dyn Storage,
        bl: &Layout,
    ) -> Result<StorageRef> {
        self.0.cmp(op, a, al, b, bl)
    }
    fn where_cond(
        &self,
        c: &dyn Storage,
        cl: &Layout,
        t: &dyn Storage,
        tl: &Layout,
        f: &dyn Storage,
        fl: &Layout,
    ) -> Result<StorageRef> {
        self.0.where_cond(c, cl, t, tl, f, fl)
    }
    fn reduce(
        &self,
        op: ReduceOp,
        src: &dyn Storage,
        layout: &Layout,
        axes: &[usize],
    ) -> Result<StorageRef> {
        self.0.reduce(op, src, layout, axes)
    }
    fn matmul(
        &self,
        a: &dyn Storage,
        al: &Layout,
        b: &dyn Storage,
        bl: &Layout,
        spec: &MatmulSpec,
    ) -> Result<StorageRef> {
        self.0.matmul(a, al, b, bl, spec)
    }
    fn index_select(
        &self,
        s: &dyn Storage,
        l: &Layout,
        dim: usize,
        i: &dyn Storage,
        il: &Layout,
    ) -> Result<StorageRef> {
        self.0.index_select(s, l, dim, i, il)
    }
    fn gather(
        &self,
        s: &dyn Storage,
        l: &Layout,
        dim: usize,
        i: &dyn Storage,
        il: &Layout,
    ) -> Result<StorageRef> {
        self.0.gather(s, l, dim, i, il)
    }
    #[allow(clippy::too_many_arguments)]
    fn scatter(
        &self,
        r: ScatterReduce,
        inc: bool,
        d: &mut dyn Storage,
        dl: &Layout,
        dim: usize,
        i: &dyn Storage,
        il: &Layout,
        s: &dyn Storage,
        sl: &Layout,
    ) -> Result<()> {
        self.0.scatter(r, inc, d, dl, dim, i, il, s, sl)
    }
    fn scan(
        &self,
        op: ScanOp,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
    ) -> Result<StorageRef> {
        self.0.scan(op, src, layout, axis)
    }
    fn argsort(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
        descending: bool,
    ) -> Result<StorageRef> {
        self.0.argsort(src, layout, axis, descending)
    }
    fn random(
        &self,
        dist: Distribution,
        seed: u64,
        len: usize,
        dtype: DType,
    ) -> Result<StorageRef> {
        self.0.random(dist, seed, len, dtype)
    }
}

pub fn composite_dev() -> Device {
    static BACKEND: Composite = Composite(CpuBackend);
    static SLOT: &dyn Backend = &BACKEND;
    Device::new(&SLOT)
}
