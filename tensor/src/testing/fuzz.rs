//! A fuzz test of the whole public tensor API: a seeded loop that calls every op (the
//! element-wise tables through `UnaryOp::samples()` and `BinaryOp::samples()`, so a new
//! row is fuzzed with no edit here) with random shapes, dims, indices, sizes and dtypes,
//! valid and invalid, including 0-d and empty tensors and non-contiguous views.
//!
//! Each call must return `Ok` with the shape PyTorch's rules give (`fuzz/oracle.rs`,
//! written from PyTorch, not from Lamina's code) and values that read back, or `Err` where
//! PyTorch raises; an out-of-range dim must give `DimOutOfRange`. A panic, a wrong shape,
//! an `Err` on valid input or an `Ok` on invalid input is a failure that prints the op, its
//! inputs and arguments, and how to replay that one call. Where Lamina deliberately takes
//! dtypes PyTorch refuses (or the reverse: `cat` of f32 and f64, `U32` indices, a
//! non-bool `where` condition), only the shape of an `Ok` is checked; where PyTorch's own
//! rule is a quirk (`cat` skipping 1-D empty tensors, gathers with an empty index), only
//! "no panic".
//!
//! Environment: `LAMINA_FUZZ_CALLS` (default 50,000, about a second on the CPU backend),
//! `LAMINA_FUZZ_SEED`, `LAMINA_FUZZ_OP` (only ops whose name contains it),
//! `LAMINA_FUZZ_CALL` (replay one call), `LAMINA_FUZZ_VERBOSE` (counts per op). The run
//! prints its call count and the `Ok`/`Err` counts per op family, with how many calls
//! had a strict rule, a dtype-lenient one or none (`cargo test -p lamina-backend-cpu
//! --test conformance api_fuzz -- --nocapture`).
//!
//! Layout: `fuzz/draw.rs` (the random inputs), `fuzz/oracle.rs` (the shape rules), then
//! the op tables by family: `fuzz/elementwise.rs`, `fuzz/reduce.rs` (with scans),
//! `fuzz/shape.rs` (views, joins), `fuzz/rearrange.rs`, `fuzz/index.rs`, `fuzz/misc.rs`
//! (matmul, creation, conversion, in place) and `fuzz/overflow.rs` (sizes whose element
//! count overflows: PyTorch raises, so must Lamina).

mod draw;
mod elementwise;
mod index;
mod misc;
mod oracle;
mod overflow;
mod rearrange;
mod reduce;
mod shape;

use std::collections::BTreeMap;
use std::time::Instant;

use super::check::no_panic;
use crate::{Device, Error, Result, Tensor};
use draw::Draw;
use oracle::{Rule, Shape, Why};

/// What a call must do.
pub(crate) enum Expect {
    /// Succeed, with these output shapes.
    Ok(Vec<Shape>),
    /// Either fail (a dtype that Lamina or PyTorch does not take) or give these shapes.
    Maybe(Vec<Shape>),
    /// Fail (`Why::Dim`: with `DimOutOfRange`).
    Err(Why),
    /// No rule: only no panic, and results that read back.
    Any,
}

impl Expect {
    /// The rule's shape, required when `strict`, else allowed to fail.
    pub fn of(rule: Rule, strict: bool) -> Expect {
        Expect::of_many(rule.map(|s| vec![s]), strict)
    }

    /// Like `of` for an op with several outputs.
    pub fn of_many(rule: Rule<Vec<Shape>>, strict: bool) -> Expect {
        match rule {
            Ok(s) if strict => Expect::Ok(s),
            Ok(s) => Expect::Maybe(s),
            // A call that may fail on its dtype may report that first.
            Err(Why::Dim) if !strict => Expect::Err(Why::Other),
            Err(w) => Expect::Err(w),
        }
    }

    /// Any error will do (ops with several operands check them in their own order).
    pub fn loose(self) -> Expect {
        match self {
            Expect::Err(_) => Expect::Err(Why::Other),
            e => e,
        }
    }
}

/// What a call returned.
pub(crate) enum Out {
    Tensors(Vec<Tensor>),
    /// A host vector of this length (expected as the one-dim "shape" `[len]`).
    Len(usize),
    /// A value without a shape (`bool`, `usize`, text).
    Value,
}

/// One call: its arguments (besides the tensors `Draw` recorded), the rule, the result.
pub(crate) struct Call {
    args: String,
    expect: Expect,
    out: std::result::Result<Result<Out>, String>,
}

impl Call {
    fn run(args: String, expect: Expect, f: impl FnOnce() -> Result<Out>) -> Call {
        Call {
            args,
            expect,
            out: no_panic(f),
        }
    }
    pub fn one(args: String, expect: Expect, f: impl FnOnce() -> Result<Tensor>) -> Call {
        Call::run(args, expect, || f().map(|t| Out::Tensors(vec![t])))
    }
    pub fn many(args: String, expect: Expect, f: impl FnOnce() -> Result<Vec<Tensor>>) -> Call {
        Call::run(args, expect, || f().map(Out::Tensors))
    }
    pub fn pair(
        args: String,
        expect: Expect,
        f: impl FnOnce() -> Result<(Tensor, Tensor)>,
    ) -> Call {
        Call::run(args, expect, || f().map(|(a, b)| Out::Tensors(vec![a, b])))
    }
    pub fn value<T>(args: String, expect: Expect, f: impl FnOnce() -> Result<T>) -> Call {
        Call::run(args, expect, || f().map(|_| Out::Value))
    }
}

/// One fuzzed op: its family (for the counts), name and call.
pub(crate) struct FuzzOp {
    family: &'static str,
    name: String,
    run: Box<dyn Fn(&mut Draw) -> Call>,
}

pub(crate) fn op(
    family: &'static str,
    name: impl Into<String>,
    run: impl Fn(&mut Draw) -> Call + 'static,
) -> FuzzOp {
    FuzzOp {
        family,
        name: name.into(),
        run: Box::new(run),
    }
}

/// Every fuzzed op.
fn table() -> Vec<FuzzOp> {
    let mut v = Vec::new();
    elementwise::ops(&mut v);
    reduce::ops(&mut v);
    shape::ops(&mut v);
    rearrange::ops(&mut v);
    index::ops(&mut v);
    misc::ops(&mut v);
    overflow::ops(&mut v);
    v
}

/// A problem with one call: its kind (failures are grouped by op and kind) and details.
fn check(call: &Call) -> Option<(&'static str, String)> {
    let result = match &call.out {
        Err(p) => return Some(("panic", format!("panicked: {p}"))),
        Ok(r) => r,
    };
    let out = match (result, &call.expect) {
        (Err(e), Expect::Ok(_)) => {
            return Some((
                "Err on valid input",
                format!("returned Err on input PyTorch takes: {e}"),
            ))
        }
        (Err(e), Expect::Err(Why::Dim)) if !matches!(e, Error::DimOutOfRange { .. }) => {
            return Some((
                "wrong error",
                format!("a dim is out of range, but the error is not DimOutOfRange: {e}"),
            ))
        }
        (Err(_), _) => return None,
        (Ok(out), _) => out,
    };
    let got: Vec<Shape> = match out {
        Out::Tensors(ts) => ts.iter().map(|t| t.dims().to_vec()).collect(),
        Out::Len(n) => vec![vec![*n]],
        Out::Value => Vec::new(),
    };
    match &call.expect {
        Expect::Err(why) => {
            return Some((
                "Ok on invalid input",
                format!("returned Ok (shapes {got:?}) where PyTorch raises ({why:?})"),
            ))
        }
        Expect::Ok(want) | Expect::Maybe(want) if *want != got => {
            return Some((
                "wrong shape",
                format!("shapes {got:?}, PyTorch gives {want:?}"),
            ))
        }
        _ => {}
    }
    if let Out::Tensors(ts) = out {
        for (i, t) in ts.iter().enumerate() {
            match no_panic(|| t.to_f64_vec()) {
                Err(p) => return Some(("read back", format!("reading output {i} panicked: {p}"))),
                Ok(Err(e)) => return Some(("read back", format!("reading output {i}: {e}"))),
                Ok(Ok(v)) if v.len() != t.elem_count() => {
                    return Some((
                        "read back",
                        format!(
                            "output {i} read back {} values for shape {:?}",
                            v.len(),
                            t.dims()
                        ),
                    ))
                }
                Ok(Ok(_)) => {}
            }
        }
    }
    None
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

#[derive(Default)]
struct Counts {
    calls: usize,
    ok: usize,
    err: usize,
    /// Calls whose rule required `Ok` (with shapes) or `Err`.
    strict: usize,
    /// Calls whose rule allowed an `Err` (dtypes) but fixed the shapes of an `Ok`.
    maybe: usize,
    /// Calls with no rule (only no panic).
    any: usize,
}

impl Counts {
    fn add(&mut self, call: Option<&Call>) {
        self.calls += 1;
        let Some(call) = call else { return };
        match &call.out {
            Ok(Ok(_)) => self.ok += 1,
            Ok(Err(_)) => self.err += 1,
            Err(_) => {}
        }
        match call.expect {
            Expect::Ok(_) | Expect::Err(_) => self.strict += 1,
            Expect::Maybe(_) => self.maybe += 1,
            Expect::Any => self.any += 1,
        }
    }

    fn row(&self, name: &str) -> String {
        format!(
            "  {name:<26} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            self.calls, self.ok, self.err, self.strict, self.maybe, self.any
        )
    }
}

/// The fuzz test (see the module docs): `LAMINA_FUZZ_CALLS` calls spread evenly over
/// every op, each checked against PyTorch's shape rules.
pub fn api_fuzz(dev: &Device) {
    const SEED: u64 = 0x1a31_f022_0000_0001;
    let calls = env_u64("LAMINA_FUZZ_CALLS").unwrap_or(50_000);
    let seed = env_u64("LAMINA_FUZZ_SEED").unwrap_or(SEED);
    let filter = std::env::var("LAMINA_FUZZ_OP").ok();
    let only = env_u64("LAMINA_FUZZ_CALL");
    let ops: Vec<FuzzOp> = table()
        .into_iter()
        .filter(|o| filter.as_ref().is_none_or(|f| o.name.contains(f.as_str())))
        .collect();
    assert!(
        !ops.is_empty(),
        "api_fuzz: no op matches LAMINA_FUZZ_OP={filter:?}"
    );
    let start = Instant::now();
    let mut families: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut per_op: Vec<Counts> = ops.iter().map(|_| Counts::default()).collect();
    // (op, kind) -> (first report, count)
    let mut problems: BTreeMap<(usize, &str), (String, usize)> = BTreeMap::new();
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..calls,
    };
    for i in range.clone() {
        let k = (i % ops.len() as u64) as usize;
        let fop = &ops[k];
        let mut draw = Draw::new(seed, i, dev);
        let (call, problem) = match no_panic(|| (fop.run)(&mut draw)) {
            Ok(call) => {
                let p = check(&call);
                (Some(call), p)
            }
            Err(p) => (
                None,
                Some(("panic", format!("panicked outside the op: {p}"))),
            ),
        };
        families.entry(fop.family).or_default().add(call.as_ref());
        per_op[k].add(call.as_ref());
        if let Some((kind, detail)) = problem {
            let entry = problems.entry((k, kind)).or_insert_with(|| {
                let mut msg = format!(
                    "[{}] ({}) {kind}: {detail}\n  call {i}, args: {}\n",
                    fop.name,
                    fop.family,
                    call.as_ref().map_or("?", |c| c.args.as_str())
                );
                for (name, spec) in &draw.inputs {
                    msg += &format!("  {name}: {spec:?}\n");
                }
                msg += &format!(
                    "  replay: LAMINA_FUZZ_SEED={seed:#x}{} LAMINA_FUZZ_CALL={i} cargo test -p lamina-backend-cpu --test conformance api_fuzz -- --nocapture",
                    filter.as_ref().map_or(String::new(), |f| format!(" LAMINA_FUZZ_OP={f}"))
                );
                (msg, 0)
            });
            entry.1 += 1;
        }
    }
    let (ok, err) = families
        .values()
        .fold((0, 0), |(o, e), c| (o + c.ok, e + c.err));
    println!(
        "api_fuzz: {} calls over {} ops (seed {seed:#x}) in {:.2} s: {ok} Ok, {err} Err, {} problem(s)",
        range.end - range.start,
        ops.len(),
        start.elapsed().as_secs_f64(),
        problems.values().map(|p| p.1).sum::<usize>(),
    );
    let header = format!(
        "  {:<26} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "family", "calls", "Ok", "Err", "strict", "maybe", "no rule"
    );
    println!("{header}");
    for (name, c) in &families {
        println!("{}", c.row(name));
    }
    if std::env::var_os("LAMINA_FUZZ_VERBOSE").is_some() {
        println!("{}", header.replacen("family", "op    ", 1));
        for (o, c) in ops.iter().zip(&per_op) {
            println!("{}", c.row(&o.name));
        }
    }
    let never_ok: Vec<&str> = ops
        .iter()
        .zip(&per_op)
        .filter(|(o, c)| o.family != "overflow" && c.calls >= 20 && c.ok == 0)
        .map(|(o, _)| o.name.as_str())
        .collect();
    if !never_ok.is_empty() {
        println!("  never Ok: {never_ok:?}");
    }
    if !problems.is_empty() {
        let report: Vec<String> = problems
            .values()
            .map(|(msg, n)| format!("{msg}\n  ({n} call(s) of this op had this problem)"))
            .collect();
        panic!(
            "api_fuzz: {} op/problem kind(s)\n\n{}",
            report.len(),
            report.join("\n\n")
        );
    }
}
