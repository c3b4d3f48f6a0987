//! The fused kernels (`fused.cu`) run on the host as `host` explains, launched as
//! `backend/fused.rs` launches them, against the CPU backend: the Adam and SGD updates in
//! place over three steps (bit for bit, as the contract says), normalisation's statistics
//! and output and its backward (blocks as fibers: a group's sums are block reductions) on
//! f32, f64, f16 and bf16 with and without centring, max pooling's arg-max with padding,
//! ties and NaN (1-D and 2-D through `launch::pool_plan`), and wrapping integer matmul
//! through strided and broadcast layouts. Without a C++ compiler it says "skipped: no C++
//! compiler".

mod host;

use host::data::{bytes, compare, compare_scaled, cpu_bytes, data, size_of};
use host::vm::{Arg, Vm};
use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::launch::pool_plan;
use lamina_backend_cuda::source::{fused_source, suffix};
use lamina_tensor::{
    bf16, f16, AdamStep, Backend, DType, HostData, Layout, MatmulSpec, NormSpec, PoolGeometry,
    SgdStep, Shape,
};

fn flat(n: usize) -> Layout {
    Layout::contiguous(Shape::from(vec![n]))
}

/// The f32 statistics of a half normalisation rounded once to the half dtype, as the
/// backend casts them after the kernel.
fn round_stats(b: &[u8], d: DType) -> Vec<u8> {
    let v = b
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())));
    bytes(&match d {
        DType::F16 => HostData::F16(v.map(f16::from_f64).collect()),
        DType::BF16 => HostData::BF16(v.map(bf16::from_f64).collect()),
        DType::F32 | DType::F64 | DType::I64 | DType::U32 | DType::Bool => {
            unreachable!("only half statistics are rounded")
        }
    })
}

/// A pooling: input, kernel, stride and padding sizes.
type Pool = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

#[test]
fn fused_kernels_on_the_host() {
    let Some(vm) = Vm::build("fused_host", &fused_source()) else {
        println!("skipped: no C++ compiler");
        return;
    };
    let cpu = CpuBackend;
    let mut failures = Vec::new();
    let mut cases = 0;

    // Optimizer updates: three steps, every buffer compared bit for bit.
    for d in [DType::F32, DType::F64] {
        let n = 37;
        let p0 = data(d, n, |k| ((k * 7) % 11) as f64 / 3.0 - 1.5);
        let grads: Vec<HostData> = (0..3)
            .map(|s| data(d, n, move |k| (((k + 5 * s) * 3) % 13) as f64 / 5.0 - 1.2))
            .collect();
        let z = data(d, n, |_| 0.0);
        for beta1 in [0.9, 0.3] {
            let mut p = cpu.from_host(p0.clone()).unwrap();
            let (mut m, mut v) = (
                cpu.from_host(z.clone()).unwrap(),
                cpu.from_host(z.clone()).unwrap(),
            );
            let mut s = vm.script();
            s.buf(0, &bytes(&p0));
            s.buf(2, &bytes(&z));
            s.buf(3, &bytes(&z));
            for (t, g) in grads.iter().enumerate() {
                let t = (t + 1) as f64;
                let beta2: f64 = 0.999;
                let step = AdamStep {
                    beta1,
                    beta2,
                    eps: 1e-8,
                    step_size: 0.01 / (1.0 - beta1.powf(t)),
                    bc2_sqrt: (1.0 - beta2.powf(t)).sqrt(),
                };
                let gs = cpu.from_host(g.clone()).unwrap();
                cpu.adam_update(
                    triomphe::Arc::get_mut(&mut p).unwrap(),
                    &flat(n),
                    &*gs,
                    &flat(n),
                    triomphe::Arc::get_mut(&mut m).unwrap(),
                    triomphe::Arc::get_mut(&mut v).unwrap(),
                    &step,
                )
                .unwrap()
                .unwrap();
                s.buf(1, &bytes(g));
                s.launch(
                    &format!("adam_{}", suffix(d)),
                    2,
                    8,
                    false,
                    &[
                        Arg::Buf(Some(0)),
                        Arg::Buf(Some(1)),
                        Arg::Buf(Some(2)),
                        Arg::Buf(Some(3)),
                        Arg::Int(n as i64),
                        Arg::Float(step.beta1),
                        Arg::Float(step.beta2),
                        Arg::Float(step.eps),
                        Arg::Float(step.step_size),
                        Arg::Float(step.bc2_sqrt),
                    ],
                );
            }
            s.read(0);
            s.read(2);
            s.read(3);
            let out = s.run();
            cases += 1;
            for (i, (name, want)) in [("param", &p), ("m", &m), ("v", &v)]
                .into_iter()
                .enumerate()
            {
                if out[i] != cpu_bytes(want, n) {
                    failures.push(format!("adam_{} beta1 {beta1}: {name} differs", suffix(d)));
                }
            }
        }
        for (momentum, dampening, wd, nesterov) in [
            (0.9, 0.0, 0.0, false),
            (0.9, 0.1, 0.01, false),
            (0.8, 0.0, 0.05, true),
        ] {
            let mut p = cpu.from_host(p0.clone()).unwrap();
            let mut b = cpu.from_host(z.clone()).unwrap();
            let mut s = vm.script();
            s.buf(0, &bytes(&p0));
            s.buf(2, &bytes(&z));
            for g in &grads {
                let step = SgdStep {
                    lr: 0.05,
                    momentum,
                    dampening,
                    weight_decay: wd,
                    nesterov,
                };
                let gs = cpu.from_host(g.clone()).unwrap();
                cpu.sgd_update(
                    triomphe::Arc::get_mut(&mut p).unwrap(),
                    &flat(n),
                    &*gs,
                    &flat(n),
                    triomphe::Arc::get_mut(&mut b).unwrap(),
                    &step,
                )
                .unwrap()
                .unwrap();
                s.buf(1, &bytes(g));
                s.launch(
                    &format!("sgd_{}", suffix(d)),
                    2,
                    8,
                    false,
                    &[
                        Arg::Buf(Some(0)),
                        Arg::Buf(Some(1)),
                        Arg::Buf(Some(2)),
                        Arg::Int(n as i64),
                        Arg::Float(step.lr),
                        Arg::Float(step.momentum),
                        Arg::Float(step.dampening),
                        Arg::Float(step.weight_decay),
                        Arg::Int(i64::from(nesterov)),
                    ],
                );
            }
            s.read(0);
            s.read(2);
            let out = s.run();
            cases += 1;
            for (i, (name, want)) in [("param", &p), ("buf", &b)].into_iter().enumerate() {
                if out[i] != cpu_bytes(want, n) {
                    failures.push(format!(
                        "sgd_{} momentum {momentum} nesterov {nesterov}: {name} differs",
                        suffix(d)
                    ));
                }
            }
        }
    }

    // Normalisation and its backward.
    for d in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let stat = if matches!(d, DType::F16 | DType::BF16) {
            DType::F32
        } else {
            d
        };
        for (outer, groups, inner) in [(3, 4, 5), (2, 1, 700), (1, 6, 1)] {
            for center in [true, false] {
                let spec = NormSpec {
                    outer,
                    groups,
                    inner,
                    eps: 1e-5,
                    center,
                };
                let n = outer * groups * inner;
                let x = data(d, n, |k| ((k * 13) % 29) as f64 / 7.0 - 2.0);
                let g = data(d, n, |k| ((k * 5) % 17) as f64 / 4.0 - 2.0);
                let xs = cpu.from_host(x.clone()).unwrap();
                let (y, mean, var) = cpu.normalize(&*xs, &flat(n), &spec).unwrap().unwrap();
                let ys = bytes(&cpu.to_host(&*y, &flat(n)).unwrap());
                // rstd as the backward receives it: the tensor layer's 1 / sqrt(var + eps).
                let rstd = match cpu.to_host(&*var, &flat(groups)).unwrap() {
                    HostData::F64(v) => {
                        HostData::F64(v.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect())
                    }
                    HostData::F32(v) => {
                        HostData::F32(v.iter().map(|v| 1.0 / (v + 1e-5f32).sqrt()).collect())
                    }
                    HostData::F16(v) => HostData::F16(
                        v.iter()
                            .map(|v| f16::from_f32(1.0 / (v.to_f32() + 1e-5).sqrt()))
                            .collect(),
                    ),
                    HostData::BF16(v) => HostData::BF16(
                        v.iter()
                            .map(|v| bf16::from_f32(1.0 / (v.to_f32() + 1e-5).sqrt()))
                            .collect(),
                    ),
                    other => panic!("statistics of {other:?}"),
                };
                let (gs, rs) = (
                    cpu.from_host(g.clone()).unwrap(),
                    cpu.from_host(rstd.clone()).unwrap(),
                );
                let dx = cpu
                    .normalize_backward(&*gs, &flat(n), &*y, &flat(n), &*rs, &flat(groups), &spec)
                    .unwrap()
                    .unwrap();
                let sz = size_of(stat);
                let mut s = vm.script();
                s.buf(0, &bytes(&x));
                s.buf(1, &vec![0u8; n * size_of(d)]);
                for id in 2..5 {
                    s.buf(id, &vec![0u8; groups * sz]);
                }
                let (o, gr, i) = (outer as i64, groups as i64, inner as i64);
                let k = suffix(d);
                s.launch(
                    &format!("norm_stats_{k}"),
                    groups.min(3) as u32,
                    256,
                    true,
                    &[
                        Arg::Buf(Some(0)),
                        Arg::Buf(Some(2)),
                        Arg::Buf(Some(3)),
                        Arg::Buf(Some(4)),
                        Arg::Int(o),
                        Arg::Int(gr),
                        Arg::Int(i),
                        Arg::Float(1e-5),
                        Arg::Int(i64::from(center)),
                    ],
                );
                s.launch(
                    &format!("norm_apply_{k}"),
                    3,
                    7,
                    false,
                    &[
                        Arg::Buf(Some(0)),
                        Arg::Buf(Some(1)),
                        Arg::Buf(Some(2)),
                        Arg::Buf(Some(4)),
                        Arg::Int(n as i64),
                        Arg::Int(gr),
                        Arg::Int(i),
                    ],
                );
                // The backward, from the CPU's y and the rstd above.
                s.buf(5, &bytes(&g));
                s.buf(6, &ys);
                s.buf(7, &bytes(&rstd));
                s.buf(8, &vec![0u8; 2 * groups * sz]);
                s.buf(9, &vec![0u8; n * size_of(d)]);
                s.launch(
                    &format!("norm_backward_sums_{k}"),
                    groups.min(3) as u32,
                    256,
                    true,
                    &[
                        Arg::Buf(Some(5)),
                        Arg::Buf(Some(6)),
                        Arg::Buf(Some(8)),
                        Arg::Int(o),
                        Arg::Int(gr),
                        Arg::Int(i),
                        Arg::Int(i64::from(center)),
                    ],
                );
                s.launch(
                    &format!("norm_backward_apply_{k}"),
                    3,
                    7,
                    false,
                    &[
                        Arg::Buf(Some(5)),
                        Arg::Buf(Some(6)),
                        Arg::Buf(Some(8)),
                        Arg::Buf(Some(7)),
                        Arg::Buf(Some(9)),
                        Arg::Int(n as i64),
                        Arg::Int(gr),
                        Arg::Int(i),
                    ],
                );
                for id in [1, 2, 3, 9] {
                    s.read(id);
                }
                let out = s.run();
                let what = format!("norm_{k} [{outer}, {groups}, {inner}] center {center}");
                cases += 1;
                compare(&out[0], &ys, d, n, &format!("{what} y"), &mut failures);
                let stats = |b: &[u8]| {
                    if stat == d {
                        b.to_vec()
                    } else {
                        round_stats(b, d)
                    }
                };
                if center {
                    compare(
                        &stats(&out[1]),
                        &cpu_bytes(&mean, groups),
                        d,
                        groups,
                        &format!("{what} mean"),
                        &mut failures,
                    );
                }
                compare(
                    &stats(&out[2]),
                    &cpu_bytes(&var, groups),
                    d,
                    groups,
                    &format!("{what} var"),
                    &mut failures,
                );
                compare_scaled(
                    &out[3],
                    &cpu_bytes(&dx, n),
                    d,
                    n,
                    &format!("{what} dx"),
                    &mut failures,
                );
            }
        }
    }

    // Max pooling's arg-max: 2-D with padding and stride, and 1-D.
    for d in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let pools: [Pool; 3] = [
            (vec![5, 6], vec![2, 3], vec![2, 2], vec![1, 1]),
            (vec![4, 4], vec![3, 3], vec![1, 1], vec![1, 0]),
            (vec![9], vec![3], vec![2], vec![1]),
        ];
        for (input, kernel, stride, padding) in pools {
            let output: Vec<usize> = (0..input.len())
                .map(|i| (input[i] + 2 * padding[i] - kernel[i]) / stride[i] + 1)
                .collect();
            let geo = PoolGeometry {
                batch: 2,
                channels: 3,
                input: input.as_slice().into(),
                kernel: kernel.as_slice().into(),
                stride: stride.as_slice().into(),
                padding: padding.as_slice().into(),
                output: output.as_slice().into(),
            };
            let plane: usize = input.iter().product();
            let n = 6 * plane;
            // Ties (values repeat) and a NaN every 23 elements.
            let x = data(d, n, |k| {
                if k % 23 == 7 {
                    f64::NAN
                } else {
                    ((k * 5) % 7) as f64
                }
            });
            let xs = cpu.from_host(x.clone()).unwrap();
            let want = cpu.max_pool_indices(&*xs, &flat(n), &geo).unwrap().unwrap();
            let (planes, p) = pool_plan(&geo);
            let len = 6 * output.iter().product::<usize>();
            let mut s = vm.script();
            s.buf(0, &bytes(&x));
            s.buf(1, &vec![0u8; len * 8]);
            let mut args = vec![
                Arg::Buf(Some(0)),
                Arg::Buf(Some(1)),
                Arg::Int(planes as i64),
            ];
            args.extend(p.iter().map(|&v| Arg::Int(v)));
            s.launch(
                &format!("max_pool_indices_{}", suffix(d)),
                3,
                5,
                false,
                &args,
            );
            s.read(1);
            let out = s.run();
            cases += 1;
            compare(
                &out[0],
                &cpu_bytes(&want, len),
                DType::I64,
                len,
                &format!("max_pool_indices_{} {input:?}", suffix(d)),
                &mut failures,
            );
        }
    }

    // Integer matmul, wrapping, through a transposed and a broadcast operand.
    for d in [DType::I64, DType::U32] {
        let (batch, m, k, n) = (2, 3, 4, 5);
        let a = data(d, 24, |i| {
            if i == 5 {
                9.2e18
            } else {
                (i * 7 % 10) as f64 - 3.0
            }
        });
        let b = data(d, 20, |i| (i * 3 % 7) as f64 + 1.0);
        // a: [2, 3, 4] as the transposed view of [2, 4, 3]; b: [4, 5] broadcast over the batch.
        let la = Layout::new(Shape::from(vec![batch, m, k]), vec![12, 1, 3], 0);
        let lb = Layout::new(Shape::from(vec![batch, k, n]), vec![0, n, 1], 0);
        let spec = MatmulSpec {
            batch: Shape::from(vec![batch]),
            m,
            k,
            n,
        };
        let (sa, sb) = (
            cpu.from_host(a.clone()).unwrap(),
            cpu.from_host(b.clone()).unwrap(),
        );
        let want = cpu.matmul(&*sa, &la, &*sb, &lb, &spec).unwrap();
        let len = batch * m * n;
        let mut s = vm.script();
        s.buf(0, &bytes(&a));
        s.buf(1, &bytes(&b));
        s.buf(2, &vec![0u8; len * size_of(d)]);
        s.launch(
            &format!("matmul_int_{}", suffix(d)),
            2,
            4,
            false,
            &[
                Arg::Buf(Some(0)),
                Arg::Buf(Some(1)),
                Arg::Buf(Some(2)),
                Arg::Strided(&la),
                Arg::Strided(&lb),
                Arg::Int(batch as i64),
                Arg::Int(m as i64),
                Arg::Int(k as i64),
                Arg::Int(n as i64),
            ],
        );
        s.read(2);
        let out = s.run();
        cases += 1;
        compare(
            &out[0],
            &cpu_bytes(&want, len),
            d,
            len,
            &format!("matmul_int_{}", suffix(d)),
            &mut failures,
        );
    }

    assert!(
        failures.is_empty(),
        "{} of {cases} cases disagree with the CPU backend:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{cases} fused-kernel cases agree with the CPU backend");
}
