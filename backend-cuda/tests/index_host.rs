//! The indexing kernels (`index.cu`: `index_select`, `gather`, the index check, and scatter
//! with every reduction, with and without the targets' originals, the mean's count and
//! division) run on the host as `host` explains, launched as the backend launches them
//! (the scatter's passes from `source::scatter_passes`), against the CPU backend: every
//! dtype with i64 and u32 ids, along each dim, repeated ids (the atomic and
//! compare-and-swap paths, the half types' 32-bit-word CAS included), and out-of-range
//! ids, whose first offender the flag must name as the CPU's error does. Without a C++
//! compiler it says "skipped: no C++ compiler".

mod host;

use host::data::{bytes, compare, cpu_bytes, data, size_of};
use host::vm::{Arg, Vm};
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::source::{index_source, scatter_passes, suffix, NUMBER_DTYPES};
use lamina_tensor::{Backend, DType, Error, HostData, Layout, ScatterReduce, Shape, StorageRef};

fn ids(d: DType, v: &[i64]) -> HostData {
    match d {
        DType::I64 => HostData::I64(v.to_vec()),
        DType::U32 => HostData::U32(v.iter().map(|&x| x as u32).collect()),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::Bool => {
            unreachable!("index dtypes are i64 and u32")
        }
    }
}

fn contiguous(dims: &[usize]) -> Layout {
    Layout::contiguous(Shape::from(dims.to_vec()))
}

/// The index flag as the host reads it: `None` when no id was out of range.
fn flag(b: &[u8]) -> Option<i64> {
    let v = i64::from_le_bytes(b[..8].try_into().unwrap());
    (v != i64::MIN).then_some(v)
}

fn cpu_error_index(e: &Error) -> i64 {
    match e {
        Error::IndexOutOfBounds { index, .. } => *index,
        other => panic!("expected IndexOutOfBounds, got {other}"),
    }
}

/// One `index_select` or `gather` launch (`args` over buffers 0 `x`, 1 the ids, 2 the
/// output of `len` elements, 3 the flag) against the CPU's result or its
/// IndexOutOfBounds.
#[allow(clippy::too_many_arguments)]
fn check_lookup(
    vm: &Vm,
    kernel: &str,
    args: &[Arg],
    (x, id_data): (&HostData, &HostData),
    len: usize,
    want: lamina_tensor::Result<StorageRef>,
    what: &str,
    failures: &mut Vec<String>,
) {
    let d = x.dtype();
    let mut s = vm.script();
    s.buf(0, &bytes(x));
    s.buf(1, &bytes(id_data));
    s.buf(2, &vec![0u8; len * size_of(d)]);
    s.buf(3, &i64::MIN.to_le_bytes());
    s.launch(kernel, 3, 5, false, args);
    s.read(2);
    s.read(3);
    let out = s.run();
    match want {
        Ok(want) => {
            if let Some(bad) = flag(&out[1]) {
                failures.push(format!("{what}: flagged {bad}"));
            }
            compare(&out[0], &cpu_bytes(&want, len), d, len, what, failures);
        }
        Err(e) => {
            if flag(&out[1]) != Some(cpu_error_index(&e)) {
                failures.push(format!("{what}: flag {:?} vs {e}", flag(&out[1])));
            }
        }
    }
}

#[test]
fn index_kernels_on_the_host() {
    let Some(vm) = Vm::build("index_host", &index_source()) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let no_flag = i64::MIN.to_le_bytes();
    let mut failures = Vec::new();
    let mut cases = 0;
    for d in DType::ALL {
        let n = suffix(d);
        for id in [DType::I64, DType::U32] {
            let is = suffix(id);
            // index_select along each dim of x [5, 4] (transposed view of a 4 x 5).
            let xl = Layout::new(Shape::from(vec![5, 4]), vec![1, 5], 0);
            let x = data(d, 20, |k| ((k * 7) % 13) as f64 - 4.0);
            let xs = cpu.from_host(x.clone()).unwrap();
            for (dim, sel) in [
                (0, vec![4, 0, 4, 2]),
                (1, vec![3, 3, 0]),
                (0, vec![1, 9, 2]),
            ] {
                let il = contiguous(&[sel.len()]);
                let is_ = cpu.from_host(ids(id, &sel)).unwrap();
                let dims = xl.dims();
                let (outer, size, inner): (usize, usize, usize) = (
                    dims[..dim].iter().product(),
                    dims[dim],
                    dims[dim + 1..].iter().product(),
                );
                let len = outer * sel.len() * inner;
                let args = [
                    Arg::Buf(Some(0)),
                    Arg::Buf(Some(1)),
                    Arg::Buf(Some(2)),
                    Arg::Strided(&xl),
                    Arg::Strided(&il),
                    Arg::Int(outer as i64),
                    Arg::Int(size as i64),
                    Arg::Int(inner as i64),
                    Arg::Buf(Some(3)),
                ];
                let what = format!("index_select_{n}_{is} dim {dim} ids {sel:?}");
                cases += 1;
                check_lookup(
                    &vm,
                    &format!("index_select_{n}_{is}"),
                    &args,
                    (&x, &ids(id, &sel)),
                    len,
                    cpu.index_select(&*xs, &xl, dim, &*is_, &il),
                    &what,
                    &mut failures,
                );
            }
            // gather along each dim of x [4, 5].
            let xl = contiguous(&[4, 5]);
            for (dim, gl, g) in [
                (
                    0,
                    vec![3, 5],
                    vec![3, 0, 1, 1, 2, 0, 0, 3, 3, 1, 2, 2, 0, 1, 3],
                ),
                (1, vec![4, 2], vec![4, 0, 1, 1, 3, 2, 0, 4]),
                (1, vec![2, 2], vec![0, 5, 1, 1]),
            ] {
                let il = contiguous(&gl);
                let is_ = cpu.from_host(ids(id, &g)).unwrap();
                let len = g.len();
                let args = [
                    Arg::Buf(Some(0)),
                    Arg::Buf(Some(1)),
                    Arg::Buf(Some(2)),
                    Arg::Strided(&xl),
                    Arg::Strided(&il),
                    Arg::Int(dim as i64),
                    Arg::Buf(Some(3)),
                ];
                let what = format!("gather_{n}_{is} dim {dim} ids {g:?}");
                cases += 1;
                check_lookup(
                    &vm,
                    &format!("gather_{n}_{is}"),
                    &args,
                    (&x, &ids(id, &g)),
                    len,
                    cpu.gather(&*xs, &xl, dim, &*is_, &il),
                    &what,
                    &mut failures,
                );
            }
            // scatter into dst [4, 5] along dim 0 from src [3, 5].
            let reductions: &[ScatterReduce] = if NUMBER_DTYPES.contains(&d) {
                &[
                    ScatterReduce::Replace,
                    ScatterReduce::Sum,
                    ScatterReduce::Prod,
                    ScatterReduce::Mean,
                    ScatterReduce::Amax,
                    ScatterReduce::Amin,
                ]
            } else {
                &[ScatterReduce::Replace]
            };
            let (dl, sl, il) = (
                contiguous(&[4, 5]),
                contiguous(&[3, 5]),
                contiguous(&[3, 5]),
            );
            let src = data(d, 15, |k| ((k * 5) % 9) as f64 / 2.0 - 1.5);
            for &reduce in reductions {
                // Repeated targets for the reductions; distinct per column for Replace,
                // whose winner among repeats is unspecified on a GPU.
                let g: Vec<i64> = if reduce == ScatterReduce::Replace {
                    vec![0, 1, 2, 3, 0, 2, 3, 0, 1, 1, 3, 2, 1, 2, 3]
                } else {
                    vec![1, 1, 3, 0, 1, 1, 3, 3, 0, 2, 1, 0, 3, 0, 2]
                };
                for include_self in [true, false] {
                    if reduce == ScatterReduce::Replace && !include_self {
                        continue;
                    }
                    let mut want = cpu.from_host(x.clone()).unwrap();
                    let is_ = cpu.from_host(ids(id, &g)).unwrap();
                    let ss = cpu.from_host(src.clone()).unwrap();
                    cpu.scatter(
                        reduce,
                        include_self,
                        triomphe::Arc::get_mut(&mut want).unwrap(),
                        &dl,
                        0,
                        &*is_,
                        &il,
                        &*ss,
                        &sl,
                    )
                    .unwrap();
                    let mut s = vm.script();
                    s.buf(0, &bytes(&x));
                    s.buf(1, &bytes(&ids(id, &g)));
                    s.buf(2, &bytes(&src));
                    s.buf(3, &no_flag);
                    s.buf(4, &[0u8; 20 * 4]);
                    s.launch(
                        &format!("index_check_{is}"),
                        2,
                        4,
                        false,
                        &[
                            Arg::Buf(Some(1)),
                            Arg::Strided(&il),
                            Arg::Int(4),
                            Arg::Buf(Some(3)),
                        ],
                    );
                    let (passes, mean) = scatter_passes(reduce, include_self);
                    for (pass, init) in passes {
                        s.launch(
                            &format!("{pass}_{n}_{is}"),
                            2,
                            4,
                            false,
                            &[
                                Arg::Buf(Some(0)),
                                Arg::Buf(Some(1)),
                                Arg::Buf(Some(2)),
                                Arg::Strided(&dl),
                                Arg::Strided(&il),
                                Arg::Strided(&sl),
                                Arg::Int(0),
                                Arg::Float(init),
                                Arg::Buf(Some(4)),
                                Arg::Buf(Some(3)),
                            ],
                        );
                    }
                    if mean {
                        s.launch(
                            &format!("scatter_mean_div_{n}"),
                            2,
                            4,
                            false,
                            &[
                                Arg::Buf(Some(0)),
                                Arg::Buf(Some(4)),
                                Arg::Int(20),
                                Arg::Int(i64::from(include_self)),
                            ],
                        );
                    }
                    s.read(0);
                    s.read(3);
                    let out = s.run();
                    let what = format!("scatter {reduce:?} {n}_{is} include_self {include_self}");
                    cases += 1;
                    if let Some(bad) = flag(&out[1]) {
                        failures.push(format!("{what}: flagged {bad}"));
                    }
                    compare(&out[0], &cpu_bytes(&want, 20), d, 20, &what, &mut failures);
                }
            }
            // The check pass names an out-of-range id as the CPU's error does.
            let bad_ids: Vec<i64> = if id == DType::I64 {
                vec![0, 4, 1, -2]
            } else {
                vec![0, 9, 1, 2]
            };
            let bl = contiguous(&[4]);
            let mut s = vm.script();
            s.buf(1, &bytes(&ids(id, &bad_ids)));
            s.buf(3, &no_flag);
            s.launch(
                &format!("index_check_{is}"),
                1,
                4,
                false,
                &[
                    Arg::Buf(Some(1)),
                    Arg::Strided(&bl),
                    Arg::Int(4),
                    Arg::Buf(Some(3)),
                ],
            );
            s.read(3);
            let out = s.run();
            let mut dst = cpu.from_host(x.clone()).unwrap();
            let is_ = cpu.from_host(ids(id, &bad_ids)).unwrap();
            let ss = cpu.from_host(data(d, 4, |k| k as f64)).unwrap();
            let e = cpu
                .scatter(
                    ScatterReduce::Replace,
                    true,
                    triomphe::Arc::get_mut(&mut dst).unwrap(),
                    &Layout::new(Shape::from(vec![4]), vec![5], 0),
                    0,
                    &*is_,
                    &bl,
                    &*ss,
                    &bl,
                )
                .unwrap_err();
            cases += 1;
            if flag(&out[0]) != Some(cpu_error_index(&e)) {
                failures.push(format!(
                    "index_check_{is} {bad_ids:?}: flag {:?} vs {e}",
                    flag(&out[0])
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases disagree with the CPU backend:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{cases} indexing cases agree with the CPU backend");
}
