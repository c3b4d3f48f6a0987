//! The attention primitive (`Tensor::attention`): values against a naive f64 definition
//! written here (shapes across the CPU kernel's 64-row block edges, causal, biases with
//! masked keys and wholly masked rows, broadcast batch dims, strided views of q, k, v and
//! the bias), on the CPU kernels and on a backend without them; the kernel's gradients
//! against the composite's, gradients and second derivatives against finite differences;
//! f32 kernel against composite on a larger problem; and the errors. With
//! `LAMINA_TEST_DEVICE=cuda` the kernel side is CUDA device 0 (`gpu-check.sh`).

mod common;

use common::{cases, check, composite_dev, dev, grads_of, tc, weighted_square};
use lamina_autograd::Tape;
use lamina_tensor::{DType, Device, Result, Tensor};
use proptest::prelude::*;

/// Deterministic values in `[-2, 2)` from `seed` (splitmix64).
fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
        })
        .collect()
}

fn cat(a: &[usize], b: &[usize]) -> Vec<usize> {
    [a, b].concat()
}

/// The batch dims of q, k and v (broadcasting together).
const BATCHES: [[&[usize]; 3]; 5] = [
    [&[], &[], &[]],
    [&[2], &[2], &[2]],
    [&[2, 3], &[2, 1], &[1, 3]],
    [&[3], &[], &[3]],
    [&[1, 2], &[2], &[2, 2]],
];

/// One attention problem.
#[derive(Clone, Debug)]
struct Case {
    batch: usize,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    causal: bool,
    /// 0 none; 1 `[L, S]` with masked entries and every fourth row masked whole; 2 the
    /// full `[B.., L, S]` with masked entries; 3 a `[1, S]` key mask (may mask every key);
    /// 4 `[L, 1]`, every third row masked.
    bias: u8,
    /// q and v as transposed views (strided rows).
    strided: bool,
    scale: f64,
    seed: u64,
}

/// q, k, v and the bias of `c`, in f64 on `dev`.
fn inputs(c: &Case, dev: &Device) -> Result<Vec<Tensor>> {
    let [bq, bk, bv] = BATCHES[c.batch];
    let make = |batch: &[usize], rows: usize, cols: usize, seed: u64, strided: bool| {
        let n = batch.iter().product::<usize>() * rows * cols;
        let v = values(seed, n);
        if strided {
            Tensor::from_vec(v, cat(batch, &[cols, rows]), dev)?.transpose(-2, -1)
        } else {
            Tensor::from_vec(v, cat(batch, &[rows, cols]), dev)
        }
    };
    let mut ts = vec![
        make(bq, c.l, c.e, c.seed, c.strided)?,
        make(bk, c.s, c.e, c.seed + 1, false)?,
        make(bv, c.s, c.ev, c.seed + 2, c.strided)?,
    ];
    let full_batch: Vec<usize> = {
        let (q, k) = (&ts[0], &ts[1]);
        let qb = lamina_tensor::Shape::from_dims(&q.dims()[..q.rank() - 2]);
        let kb = lamina_tensor::Shape::from_dims(&k.dims()[..k.rank() - 2]);
        let vb = lamina_tensor::Shape::from_dims(&ts[2].dims()[..ts[2].rank() - 2]);
        qb.broadcast(&kb, "test")?
            .broadcast(&vb, "test")?
            .dims()
            .to_vec()
    };
    let (l, s) = (c.l, c.s);
    let masks = values(
        c.seed + 3,
        full_batch.iter().product::<usize>() * l * s.max(1),
    );
    let vals = values(c.seed + 4, masks.len());
    let bias = |shape: Vec<usize>, masked: &dyn Fn(usize, usize, usize) -> bool| {
        let n: usize = shape.iter().product();
        let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let data: Vec<f64> = (0..n)
            .map(|i| {
                let (r, col) = ((i / cols) % rows, i % cols);
                if masked(i, r, col) {
                    f64::NEG_INFINITY
                } else {
                    vals[i]
                }
            })
            .collect();
        Tensor::from_vec(data, shape, dev)
    };
    match c.bias {
        0 => {}
        1 => ts.push(bias(vec![l, s], &|i, r, _| masks[i] < -1.0 || r % 4 == 1)?),
        2 => ts.push(bias(cat(&full_batch, &[l, s]), &|i, _, _| masks[i] < -1.0)?),
        3 => ts.push(bias(vec![1, s], &|i, _, _| masks[i] < 0.0)?),
        _ => ts.push(bias(vec![l, 1], &|_, r, _| r % 3 == 0)?),
    }
    Ok(ts)
}

fn attend(t: &[Tensor], c: &Case) -> Result<Tensor> {
    t[0].attention(&t[1], &t[2], t.get(3), c.causal, c.scale)
}

/// `softmax(q kᵀ · scale + bias) v` by the definition, in f64, zeros for a row with no
/// key; flattened `[B.., L, Ev]`.
fn naive(t: &[Tensor], c: &Case) -> Result<Vec<f64>> {
    let out_shape = attend(t, c)?.dims().to_vec();
    let batch = &out_shape[..out_shape.len() - 2];
    let (l, s, e, ev) = (c.l, c.s, c.e, c.ev);
    let get = |i: usize, tail: &[usize]| -> Result<Vec<f64>> {
        t[i].broadcast_to(cat(batch, tail))?.to_vec::<f64>()
    };
    let (q, k, v) = (get(0, &[l, e])?, get(1, &[s, e])?, get(2, &[s, ev])?);
    let bias = match t.get(3) {
        Some(_) => Some(get(3, &[l, s])?),
        None => None,
    };
    let nb: usize = batch.iter().product();
    let mut out = vec![0.0; nb * l * ev];
    for b in 0..nb {
        for i in 0..l {
            let sc: Vec<f64> = (0..s)
                .map(|j| {
                    let dot: f64 = (0..e)
                        .map(|x| q[(b * l + i) * e + x] * k[(b * s + j) * e + x])
                        .sum();
                    let add = bias.as_ref().map_or(0.0, |m| m[(b * l + i) * s + j]);
                    if c.causal && j > i {
                        f64::NEG_INFINITY
                    } else {
                        dot * c.scale + add
                    }
                })
                .collect();
            let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                continue;
            }
            let p: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = p.iter().sum();
            for (j, pj) in p.iter().enumerate() {
                for x in 0..ev {
                    out[(b * l + i) * ev + x] += pj / z * v[(b * s + j) * ev + x];
                }
            }
        }
    }
    Ok(out)
}

fn case(max_len: usize, max_width: usize) -> impl Strategy<Value = Case> {
    (
        0..BATCHES.len(),
        1..=max_len,
        1..=max_len,
        1..=max_width,
        1..=max_width,
        any::<bool>(),
        0u8..5,
        any::<bool>(),
        prop_oneof![Just(0.5), Just(1.0), Just(0.0), Just(-0.7)],
        0u64..1 << 32,
    )
        .prop_map(
            |(batch, l, s, e, ev, causal, bias, strided, scale, seed)| Case {
                batch,
                l,
                s,
                e,
                ev,
                causal,
                bias,
                strided,
                scale,
                seed,
            },
        )
}

fn close(got: &[f64], want: &[f64], tol: f64) -> std::result::Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} values, expected {}", got.len(), want.len()));
    }
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        // Written so that NaN fails.
        let ok = (a - b).abs() <= tol * (1.0 + b.abs());
        if !ok {
            return Err(format!("element {i}: {a} vs {b}"));
        }
    }
    Ok(())
}

/// The output and the gradients of `weighted_square(attention)` with respect to every
/// input, flattened.
fn value_and_grads(t: &[Tensor], c: &Case) -> Result<Vec<Vec<f64>>> {
    let tape = Tape::new();
    for x in t {
        tape.watch(x);
    }
    let y = attend(t, c)?;
    let g = tape.backward(&weighted_square(&y)?)?;
    let mut all = vec![y.flatten_all()?.to_vec::<f64>()?];
    for x in t {
        let gx = g.get(x).expect("every input is used");
        assert_eq!(gx.dims(), x.dims());
        all.push(gx.flatten_all()?.to_vec::<f64>()?);
    }
    Ok(all)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 2))]

    #[test]
    fn values_match_the_definition(c in case(70, 5)) {
        for dev in [dev(), composite_dev()] {
            let t = tc(inputs(&c, &dev))?;
            let got = tc(tc(attend(&t, &c))?.flatten_all().and_then(|y| y.to_vec::<f64>()))?;
            let want = tc(naive(&t, &c))?;
            if let Err(e) = close(&got, &want, 1e-12) {
                return Err(TestCaseError::fail(format!("{}: {e}", dev.name())));
            }
        }
    }

    #[test]
    fn kernel_gradients_match_the_composite(c in case(70, 5)) {
        let k = tc(value_and_grads(&tc(inputs(&c, &dev()))?, &c))?;
        let m = tc(value_and_grads(&tc(inputs(&c, &composite_dev()))?, &c))?;
        for (i, (a, b)) in k.iter().zip(&m).enumerate() {
            if let Err(e) = close(a, b, 1e-10) {
                return Err(TestCaseError::fail(format!("part {i} (0 = output, then q, k, v, bias): {e}")));
            }
        }
    }

    #[test]
    fn gradients(c in case(5, 3)) {
        for dev in [dev(), composite_dev()] {
            let t = tc(inputs(&c, &dev))?;
            check(|t| weighted_square(&attend(t, &c)?), t)?;
        }
    }

    #[test]
    fn gradients_of_gradients(c in case(4, 2)) {
        for dev in [dev(), composite_dev()] {
            let t = tc(inputs(&c, &dev))?;
            check(|t| grads_of(t, |x| weighted_square(&attend(x, &c)?)), t)?;
        }
    }
}

#[test]
fn gradients_across_block_edges() {
    // 66 queries and 67 keys: two blocks each way on the CPU kernel, the second a sliver.
    for causal in [false, true] {
        let c = Case {
            batch: 0,
            l: 66,
            s: 67,
            e: 2,
            ev: 2,
            causal,
            bias: 0,
            strided: false,
            scale: 0.7,
            seed: 9,
        };
        let t = inputs(&c, &dev()).unwrap();
        check(|t| weighted_square(&attend(t, &c)?), t).unwrap();
    }
}

#[test]
fn strided_keys_and_a_strided_bias() {
    // k as a transposed view (rows strided), the bias a transposed view at an offset
    // (columns strided, the first batch dim its own, the second broadcast), on top of the
    // strided q and v of `inputs`: values against the definition and the composite,
    // gradients against the composite's (a backend may read these layouts in place).
    for (causal, scale) in [(false, 0.6), (true, -0.8)] {
        let c = Case {
            batch: 2,
            l: 5,
            s: 7,
            e: 3,
            ev: 2,
            causal,
            bias: 0,
            strided: true,
            scale,
            seed: 11,
        };
        let (l, s) = (c.l, c.s);
        let mut results = Vec::new();
        for d in [dev(), composite_dev()] {
            let mut t = inputs(&c, &d).unwrap();
            let k = t[1].transpose(-2, -1).unwrap().contiguous().unwrap();
            t[1] = k.transpose(-2, -1).unwrap();
            assert!(!t[1].layout().is_contiguous());
            // Stored [2, 1, s + 1, l]: row 0 of the stored matrix skipped (an offset), then
            // transposed to [2, 1, l, s] with column stride l.
            let mut m = values(c.seed + 7, 2 * (s + 1) * l);
            for (i, x) in m.iter_mut().enumerate() {
                if i % 5 == 2 {
                    *x = f64::NEG_INFINITY;
                }
            }
            // Query 3 of the second batch entry sees no key.
            for j in 0..s {
                m[(s + 1) * l + (j + 1) * l + 3] = f64::NEG_INFINITY;
            }
            let bias = Tensor::from_vec(m, [2, 1, s + 1, l], &d)
                .unwrap()
                .narrow(2, 1, s)
                .unwrap()
                .transpose(-2, -1)
                .unwrap();
            assert_eq!(bias.dims(), [2, 1, l, s]);
            assert!(!bias.layout().is_contiguous());
            t.push(bias);
            let got = value_and_grads(&t, &c).unwrap();
            close(&got[0], &naive(&t, &c).unwrap(), 1e-12)
                .unwrap_or_else(|e| panic!("{} causal {causal}: {e}", d.name()));
            results.push(got);
        }
        for (i, (a, b)) in results[0].iter().zip(&results[1]).enumerate() {
            close(a, b, 1e-10).unwrap_or_else(|e| {
                panic!("causal {causal}, part {i} (0 = output, then q, k, v, bias): {e}")
            });
        }
    }
}

#[test]
fn kernel_and_composite_agree_in_f32() {
    let run = |dev: &Device, causal: bool, pad: bool| -> Result<Vec<Vec<f32>>> {
        let q = Tensor::randn(1, [2, 4, 200, 32], DType::F32, dev)?;
        let k = Tensor::randn(2, [2, 4, 200, 32], DType::F32, dev)?;
        let v = Tensor::randn(3, [2, 4, 200, 32], DType::F32, dev)?;
        // Key padding: the last 37 keys of the second sequence are masked.
        let bias = if pad {
            let mut m = vec![0.0f32; 2 * 200];
            m[200 + 163..].fill(f32::NEG_INFINITY);
            Some(Tensor::from_vec(m, [2, 1, 1, 200], dev)?)
        } else {
            None
        };
        let tape = Tape::new();
        for t in [&q, &k, &v] {
            tape.watch(t);
        }
        let y = q.attention(&k, &v, bias.as_ref(), causal, 1.0 / 32f64.sqrt())?;
        let g = tape.backward(&weighted_square(&y)?)?;
        [
            y,
            g.get(&q).expect("watched").clone(),
            g.get(&k).expect("watched").clone(),
            g.get(&v).expect("watched").clone(),
        ]
        .iter()
        .map(|t| t.flatten_all()?.to_vec::<f32>())
        .collect()
    };
    for (causal, pad) in [(false, false), (true, false), (false, true)] {
        let (k, c) = (
            run(&dev(), causal, pad).unwrap(),
            run(&composite_dev(), causal, pad).unwrap(),
        );
        for (i, (a, b)) in k.iter().zip(&c).enumerate() {
            let scale = b.iter().fold(1.0f32, |m, x| m.max(x.abs()));
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(
                worst <= 1e-5 * scale,
                "causal {causal}, pad {pad}, part {i}: kernel and composite differ by {worst} (largest value {scale})"
            );
        }
    }
}

#[test]
fn wholly_masked_rows_give_zeros_and_zero_gradients() {
    for d in [dev(), composite_dev()] {
        let q = Tensor::randn(1, [2, 3, 4], DType::F64, &d).unwrap();
        let k = Tensor::randn(2, [2, 5, 4], DType::F64, &d).unwrap();
        let v = Tensor::randn(3, [2, 5, 2], DType::F64, &d).unwrap();
        // Query 1 of every batch sees no key.
        let mut m = vec![0.0; 3 * 5];
        m[5..10].fill(f64::NEG_INFINITY);
        let bias = Tensor::from_vec(m, [3, 5], &d).unwrap();
        let tape = Tape::new();
        for t in [&q, &k, &v, &bias] {
            tape.watch(t);
        }
        let y = q.attention(&k, &v, Some(&bias), false, 0.5).unwrap();
        let g = tape.backward(&weighted_square(&y).unwrap()).unwrap();
        let y = y.to_vec3::<f64>().unwrap();
        let gq = g.get(&q).unwrap().to_vec3::<f64>().unwrap();
        let gb = g.get(&bias).unwrap().to_vec2::<f64>().unwrap();
        for b in 0..2 {
            assert_eq!(y[b][1], [0.0, 0.0]);
            assert_eq!(gq[b][1], [0.0; 4]);
        }
        assert_eq!(gb[1], [0.0; 5]);
        for t in [&g.get(&k).unwrap(), &g.get(&v).unwrap()] {
            assert!(t.to_f64_vec().unwrap().iter().all(|x| x.is_finite()));
        }
    }
}

#[test]
fn empty_dims() {
    let d = dev();
    let z = |dims: &[usize]| Tensor::randn(1, dims, DType::F64, &d).unwrap();
    // No key: zeros. No query, no value feature: empty. No query feature: softmax of the
    // bias alone.
    let y = z(&[2, 3]).attention(&z(&[0, 3]), &z(&[0, 4]), None, false, 1.0);
    assert_eq!(y.unwrap().to_vec2::<f64>().unwrap(), vec![vec![0.0; 4]; 2]);
    let y = z(&[0, 3]).attention(&z(&[5, 3]), &z(&[5, 4]), None, true, 1.0);
    assert_eq!(y.unwrap().dims(), [0, 4]);
    let y = z(&[2, 3]).attention(&z(&[5, 3]), &z(&[5, 0]), None, false, 1.0);
    assert_eq!(y.unwrap().dims(), [2, 0]);
    let v = Tensor::from_vec(vec![1.0f64, 3.0], [2, 1], &d).unwrap();
    let y = z(&[2, 0]).attention(&z(&[2, 0]), &v, None, true, 1.0);
    assert_eq!(y.unwrap().to_vec2::<f64>().unwrap(), [[1.0], [2.0]]);
}

#[test]
fn one_recorded_op() {
    let d = dev();
    let q = Tensor::randn(1, [3, 4], DType::F32, &d).unwrap();
    let tape = Tape::new();
    tape.watch(&q);
    let _y = q.attention(&q, &q, None, true, 0.5).unwrap();
    assert_eq!(tape.len(), 1);
}

#[test]
fn bad_inputs_are_errors_naming_the_op_and_shapes() {
    let d = dev();
    let z = |dims: &[usize], dt: DType| Tensor::zeros(dims, dt, &d).unwrap();
    let f = DType::F64;
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let e = err(z(&[2, 3, 4], f).attention(&z(&[2, 5, 6], f), &z(&[2, 5, 6], f), None, false, 1.0));
    assert!(
        e.contains("attention")
            && e.contains("[2, 3, 4]")
            && e.contains("[2, 5, 6]")
            && e.contains("E"),
        "{e}"
    );
    let e = err(z(&[3, 4], f).attention(&z(&[5, 4], f), &z(&[6, 2], f), None, false, 1.0));
    assert!(
        e.contains("attention") && e.contains("[5, 4]") && e.contains("[6, 2]") && e.contains("S"),
        "{e}"
    );
    let bias = z(&[3, 4], f);
    let e = err(z(&[3, 4], f).attention(&z(&[5, 4], f), &z(&[5, 2], f), Some(&bias), false, 1.0));
    assert!(
        e.contains("attention") && e.contains("bias [3, 4]") && e.contains("[3, 5]"),
        "{e}"
    );
    let e = err(z(&[2, 3, 4], f).attention(&z(&[3, 5, 4], f), &z(&[3, 5, 2], f), None, false, 1.0));
    assert!(
        e.contains("attention")
            && e.contains("[2, 3, 4]")
            && e.contains("[3, 5, 4]")
            && e.contains("batch"),
        "{e}"
    );
    let e = err(z(&[3, 4], f).attention(&z(&[5, 4], DType::F32), &z(&[5, 2], f), None, false, 1.0));
    assert!(
        e.contains("attention") && e.contains("f64") && e.contains("f32"),
        "{e}"
    );
    let e = err(z(&[4], f).attention(&z(&[5, 4], f), &z(&[5, 2], f), None, false, 1.0));
    assert!(e.contains("attention") && e.contains("[4]"), "{e}");
    let e = err(z(&[3, 4], DType::I64).attention(
        &z(&[5, 4], DType::I64),
        &z(&[5, 2], DType::I64),
        None,
        false,
        1.0,
    ));
    assert!(e.contains("attention") && e.contains("i64"), "{e}");
}
