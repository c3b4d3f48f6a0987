//! The attention row kernels (`attention.cu`) run on the host as `host` explains, blocks
//! as fibers (each row's maximum and sums are block reductions), between the products of
//! `lamina_backend_cuda::attention`'s plans (multiplied here naively through the planned
//! layouts, rounded to the dtype as cuBLAS's results are), against the CPU backend's
//! attention and its gradients: f32 and f64, strided q and k, a bias broadcast over heads,
//! causal masks, a wholly masked row and rows longer than a block. Without a C++ compiler
//! it says "skipped: no C++ compiler".

mod host;

use host::data::{bytes, compare_scaled, cpu_bytes};
use host::vm::{Arg, Vm};
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::attention::{backward_plan, forward_plan, row_args, Dims, Product};
use lamina_backend_cuda::source::{attention_source, suffix};
use lamina_tensor::{AttentionSpec, Backend, DType, HostData, Layout, Shape, StorageRef};

fn host(d: DType, v: &[f64]) -> HostData {
    match d {
        DType::F64 => HostData::F64(v.to_vec()),
        DType::F32 => HostData::F32(v.iter().map(|&x| x as f32).collect()),
        DType::F16 | DType::BF16 | DType::I64 | DType::U32 | DType::Bool => {
            unreachable!("attention kernels are f32 and f64")
        }
    }
}

fn values(h: &HostData) -> Vec<f64> {
    match h {
        HostData::F64(v) => v.clone(),
        HostData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        other => panic!("{other:?}"),
    }
}

fn from_bytes(b: &[u8], d: DType) -> Vec<f64> {
    match d {
        DType::F64 => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        DType::F32 => b
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        DType::F16 | DType::BF16 | DType::I64 | DType::U32 | DType::Bool => {
            unreachable!("attention kernels are f32 and f64")
        }
    }
}

/// The storage offset of row-major element `i` of `layout`.
fn offset(layout: &Layout, mut i: usize) -> usize {
    let mut off = layout.offset();
    for (&dim, &st) in layout.dims().iter().zip(layout.strides()).rev() {
        off += (i % dim) * st;
        i /= dim;
    }
    off
}

/// A planned product, naive through its layouts, rounded to `d` as cuBLAS's result is.
fn product(p: &Product, a: &[f64], b: &[f64], d: DType) -> Vec<f64> {
    let (m, k, n) = (p.spec.m, p.spec.k, p.spec.n);
    let batch = p.spec.batch.elem_count();
    let mut y = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|t| {
                        a[offset(&p.lhs, (bi * m + i) * k + t)]
                            * b[offset(&p.rhs, (bi * k + t) * n + j)]
                    })
                    .sum();
                y[(bi * m + i) * n + j] = s;
            }
        }
    }
    values(&host(d, &y))
}

/// Each of `got` against `want` relative to the largest wanted magnitude.
fn check(got: &[f64], want: &StorageRef, d: DType, what: &str, failures: &mut Vec<String>) {
    let n = got.len();
    compare_scaled(
        &bytes(&host(d, got)),
        &cpu_bytes(want, n),
        d,
        n,
        what,
        failures,
    );
}

struct Case {
    batch: Vec<usize>,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    /// q as a view with its last two dims stored transposed.
    q_transposed: bool,
    /// The bias broadcast over the last batch dim, with its rows where `l` is `masked`
    /// all -inf.
    bias: Option<Option<usize>>,
    causal: bool,
}

/// A layout `[batch.., a, b]` stored contiguously, or with its last two dims swapped.
fn layout(batch: &[usize], a: usize, b: usize, transposed: bool) -> Layout {
    let mut dims = batch.to_vec();
    dims.extend([a, b]);
    if !transposed {
        return Layout::contiguous(Shape::from(dims));
    }
    let mut stored = batch.to_vec();
    stored.extend([b, a]);
    let r = stored.len();
    Layout::contiguous(Shape::from(stored)).transpose(r - 2, r - 1)
}

#[test]
fn attention_row_kernels_on_the_host() {
    let Some(vm) = Vm::build("attention_host", &attention_source()) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let cases = [
        Case {
            batch: vec![2],
            l: 3,
            s: 4,
            e: 5,
            ev: 2,
            q_transposed: false,
            bias: None,
            causal: false,
        },
        Case {
            batch: vec![2, 3],
            l: 4,
            s: 6,
            e: 3,
            ev: 5,
            q_transposed: true,
            bias: Some(None),
            causal: true,
        },
        Case {
            batch: vec![1, 2],
            l: 3,
            s: 3,
            e: 2,
            ev: 2,
            q_transposed: false,
            bias: Some(Some(1)),
            causal: false,
        },
        Case {
            batch: vec![1],
            l: 2,
            s: 300,
            e: 4,
            ev: 3,
            q_transposed: true,
            bias: None,
            causal: true,
        },
    ];
    let mut failures = Vec::new();
    let mut count = 0;
    for d in [DType::F32, DType::F64] {
        let n = suffix(d);
        for (ci, c) in cases.iter().enumerate() {
            let (ql, kl, vl) = (
                layout(&c.batch, c.l, c.e, c.q_transposed),
                layout(&c.batch, c.s, c.e, true),
                layout(&c.batch, c.s, c.ev, false),
            );
            let fill = |len: usize, m: usize, div: f64| -> Vec<f64> {
                values(&host(
                    d,
                    &(0..len)
                        .map(|i| ((i * m) % 19) as f64 / div - 1.0)
                        .collect::<Vec<_>>(),
                ))
            };
            let q = fill(ql.elem_count(), 7, 9.0);
            let k = fill(kl.elem_count(), 5, 8.0);
            let v = fill(vl.elem_count(), 3, 6.0);
            let g = fill(c.batch.iter().product::<usize>() * c.l * c.ev, 11, 7.0);
            let gl = layout(&c.batch, c.l, c.ev, false);
            // The bias: [batch.., l, s] read with stride 0 over the last batch dim.
            let bias = c.bias.map(|masked| {
                let mut outer = c.batch.clone();
                *outer.last_mut().unwrap() = 1;
                let stored = layout(&outer, c.l, c.s, false);
                let vals: Vec<f64> = (0..stored.elem_count())
                    .map(|i| {
                        let row = (i / c.s) % c.l;
                        if Some(row) == masked {
                            f64::NEG_INFINITY
                        } else {
                            ((i * 13) % 7) as f64 / 5.0 - 0.5
                        }
                    })
                    .collect();
                let mut dims = c.batch.clone();
                dims.extend([c.l, c.s]);
                let bl = stored.broadcast_to(&Shape::from(dims), "test").unwrap();
                (values(&host(d, &vals)), bl)
            });
            let spec = AttentionSpec {
                causal: c.causal,
                scale: 1.0 / (c.e as f64).sqrt(),
            };
            let store = |v: &[f64]| cpu.from_host(host(d, v)).unwrap();
            let (qs, ks, vs, gs) = (store(&q), store(&k), store(&v), store(&g));
            let bs = bias.as_ref().map(|(b, _)| store(b));
            let bias_in = bias.as_ref().zip(bs.as_ref()).map(|((_, l), s)| (&**s, l));
            let (out, lse) = cpu
                .attention((&*qs, &ql), (&*ks, &kl), (&*vs, &vl), bias_in, &spec)
                .unwrap()
                .unwrap();
            let (dq, dk, dv) = cpu
                .attention_backward(
                    (&*gs, &gl),
                    (&*qs, &ql),
                    (&*ks, &kl),
                    (&*vs, &vl),
                    (&*out, &gl),
                    (
                        &*lse,
                        &Layout::contiguous(Shape::from(c.batch.iter().product::<usize>() * c.l)),
                    ),
                    bias_in,
                    &spec,
                )
                .unwrap()
                .unwrap();
            let dims =
                Dims::new("attention", &ql, &kl, &vl, bias.as_ref().map(|(_, l)| l)).unwrap();
            let [rows, l, s, ev] = row_args("attention", &dims).unwrap();
            let dummy = Layout::contiguous(Shape::from(vec![c.l, c.s]));
            let (bias_bytes, lb, has_bias) = match &bias {
                Some((b, l)) => (bytes(&host(d, b)), l.clone(), 1),
                None => (vec![0u8; 8], dummy, 0),
            };
            let rows_args = |a: &mut Vec<Arg>| {
                a.push(Arg::Int(rows as i64));
                a.push(Arg::Int(l as i64));
                a.push(Arg::Int(s as i64));
            };
            let what = format!("case {ci} {n}");
            count += 1;

            // Forward: scores, the row kernel, then P v.
            let fp = forward_plan(&dims, &ql, &kl, &vl);
            let scores = product(&fp.scores, &q, &k, d);
            let mut sc = vm.script();
            sc.buf(0, &bytes(&host(d, &scores)));
            sc.buf(
                1,
                &vec![0u8; rows as usize * if d == DType::F64 { 8 } else { 4 }],
            );
            sc.buf(2, &bias_bytes);
            let mut args = vec![
                Arg::Buf(Some(0)),
                Arg::Buf(Some(1)),
                Arg::Buf(Some(2)),
                Arg::Strided(&lb),
                Arg::Int(has_bias),
            ];
            rows_args(&mut args);
            args.extend([Arg::Float(spec.scale), Arg::Int(i64::from(spec.causal))]);
            sc.launch(
                &format!("attention_weights_{n}"),
                (rows as u32).min(3),
                256,
                true,
                &args,
            );
            sc.read(0);
            sc.read(1);
            let res = sc.run();
            let p = from_bytes(&res[0], d);
            check(
                &product(&fp.out, &p, &v, d),
                &out,
                d,
                &format!("{what} out"),
                &mut failures,
            );
            check(
                &from_bytes(&res[1], d),
                &lse,
                d,
                &format!("{what} lse"),
                &mut failures,
            );

            // Backward: scores and dP, the row kernel, then the three products.
            let bp = backward_plan(&dims, &ql, &kl, &vl, &gl);
            let scores = product(&bp.scores, &q, &k, d);
            let dp = product(&bp.dp, &g, &v, d);
            let cpu_vals = |s: &StorageRef, n: usize| {
                values(
                    &cpu.to_host(&**s, &Layout::contiguous(Shape::from(vec![n])))
                        .unwrap(),
                )
            };
            let mut sc = vm.script();
            sc.buf(0, &bytes(&host(d, &scores)));
            sc.buf(1, &bytes(&host(d, &dp)));
            sc.buf(2, &bytes(&host(d, &g)));
            sc.buf(3, &bytes(&host(d, &cpu_vals(&out, g.len()))));
            sc.buf(4, &bytes(&host(d, &cpu_vals(&lse, rows as usize))));
            sc.buf(5, &bias_bytes);
            let mut args = vec![
                Arg::Buf(Some(0)),
                Arg::Buf(Some(1)),
                Arg::Buf(Some(2)),
                Arg::Buf(Some(3)),
                Arg::Buf(Some(4)),
                Arg::Buf(Some(5)),
                Arg::Strided(&lb),
                Arg::Int(has_bias),
            ];
            rows_args(&mut args);
            args.extend([
                Arg::Int(ev as i64),
                Arg::Float(spec.scale),
                Arg::Int(i64::from(spec.causal)),
            ]);
            sc.launch(
                &format!("attention_grad_{n}"),
                (rows as u32).min(3),
                256,
                true,
                &args,
            );
            sc.read(0);
            sc.read(1);
            let res = sc.run();
            let (p, ds) = (from_bytes(&res[0], d), from_bytes(&res[1], d));
            check(
                &product(&bp.dv, &p, &g, d),
                &dv,
                d,
                &format!("{what} dv"),
                &mut failures,
            );
            check(
                &product(&bp.dq, &ds, &k, d),
                &dq,
                d,
                &format!("{what} dq"),
                &mut failures,
            );
            check(
                &product(&bp.dk, &ds, &q, d),
                &dk,
                d,
                &format!("{what} dk"),
                &mut failures,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements with the CPU backend over {count} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{count} attention cases (forward and backward) agree with the CPU backend");
}
