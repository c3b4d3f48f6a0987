//! The convolution primitives (`conv`, `conv_input_grad`, `conv_weight_grad`) over random
//! shapes and hyper-parameters (1 to 3 spatial dims, stride, padding, dilation, groups):
//! values against the definition summed by plain loops, gradients and gradients of
//! gradients against finite differences, on the CPU kernels and on the composite
//! defaults a backend without convolution kernels gets.

mod common;

use common::{cases, check, composite_dev, dev, grads_of, tc, weighted_square};
use lamina_tensor::{ConvSpec, DType, Device, Result, Tensor};
use proptest::prelude::*;

/// One convolution's shapes and hyper-parameters.
#[derive(Clone, Debug)]
struct Case {
    input: Vec<usize>,
    weight: Vec<usize>,
    spec: ConvSpec,
}

fn case(max_spatial: usize) -> impl Strategy<Value = Case> {
    (
        1..=max_spatial,
        1..=2usize,
        1..=2usize,
        1..=2usize,
        1..=2usize,
    )
        .prop_flat_map(|(d, n, groups, cg, og)| {
            let dims = proptest::collection::vec(
                (1..=3usize, 1..=2usize, 0..=2usize, 1..=2usize, 0..=2usize),
                d,
            );
            (Just((n, groups, cg, og)), dims)
        })
        .prop_map(|((n, groups, cg, og), dims)| {
            let (mut input, mut weight) = (vec![n, groups * cg], vec![groups * og, cg]);
            let (mut stride, mut padding, mut dilation) = (vec![], vec![], vec![]);
            for (k, s, p, dl, extra) in dims {
                let span = (k - 1) * dl + 1;
                // At least the span, so every padding fits.
                input.push(span + extra);
                weight.push(k);
                stride.push(s);
                padding.push(p.min(k));
                dilation.push(dl);
            }
            Case {
                input,
                weight,
                spec: ConvSpec::new(&stride, &padding, &dilation, groups),
            }
        })
}

/// The definition, by loops over every index (f64).
fn naive(c: &Case, x: &[f64], w: &[f64]) -> (Vec<usize>, Vec<f64>) {
    let d = c.spec.spatial();
    let (n, c_in, c_out) = (c.input[0], c.input[1], c.weight[0]);
    let g = c.spec.groups;
    let (cg, og) = (c_in / g, c_out / g);
    let out: Vec<usize> = (0..d)
        .map(|i| {
            c.spec
                .output_size(i, c.input[2 + i], c.weight[2 + i])
                .unwrap()
        })
        .collect();
    let sizes = |v: &[usize]| v.iter().product::<usize>();
    let (l, kl, sl) = (sizes(&out), sizes(&c.weight[2..]), sizes(&c.input[2..]));
    let unflat = |mut i: usize, dims: &[usize]| {
        let mut v = vec![0; dims.len()];
        for j in (0..dims.len()).rev() {
            v[j] = i % dims[j];
            i /= dims[j];
        }
        v
    };
    let mut y = vec![0.0; n * c_out * l];
    for b in 0..n {
        for o in 0..c_out {
            for p in 0..l {
                let pos = unflat(p, &out);
                let mut acc = 0.0;
                for ci in 0..cg {
                    'k: for k in 0..kl {
                        let kpos = unflat(k, &c.weight[2..]);
                        let mut flat = 0;
                        for i in 0..d {
                            let at = (pos[i] * c.spec.stride[i] + kpos[i] * c.spec.dilation[i])
                                as isize
                                - c.spec.padding[i] as isize;
                            if at < 0 || at >= c.input[2 + i] as isize {
                                continue 'k;
                            }
                            flat = flat * c.input[2 + i] + at as usize;
                        }
                        let xi = (b * c_in + (o / og) * cg + ci) * sl + flat;
                        acc += x[xi] * w[(o * cg + ci) * kl + k];
                    }
                }
                y[(b * c_out + o) * l + p] = acc;
            }
        }
    }
    let mut shape = vec![n, c_out];
    shape.extend(out);
    (shape, y)
}

fn inputs(c: &Case, dev: &Device) -> Result<(Tensor, Tensor)> {
    Ok((
        Tensor::randn(1, c.input.clone(), DType::F64, dev)?,
        Tensor::randn(2, c.weight.clone(), DType::F64, dev)?,
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 4))]

    #[test]
    fn values_match_the_definition_on_kernels_and_composites(c in case(3)) {
        for dev in [dev(), composite_dev()] {
            let (x, w) = tc(inputs(&c, &dev))?;
            let y = tc(x.conv(&w, &c.spec))?;
            let (shape, want) = naive(&c, &tc(x.to_vec::<f64>())?, &tc(w.to_vec::<f64>())?);
            prop_assert_eq!(y.dims(), &shape[..]);
            for (a, b) in tc(y.to_vec::<f64>())?.iter().zip(&want) {
                prop_assert!((a - b).abs() < 1e-10, "{} vs {} on {}", a, b, dev.name());
            }
        }
    }

    #[test]
    fn gradients_of_all_three_primitives(c in case(2)) {
        for dev in [dev(), composite_dev()] {
            let (x, w) = tc(inputs(&c, &dev))?;
            let spec = c.spec.clone();
            let g = tc(x.conv(&w, &spec))?.randn_like_seeded(3);
            let g = tc(g)?;
            let sizes = c.input[2..].to_vec();
            let kernel = c.weight[2..].to_vec();
            check(|t| t[0].conv(&t[1], &spec), vec![x.clone(), w.clone()])?;
            check(|t| t[0].conv_input_grad(&t[1], &spec, &sizes), vec![g.clone(), w.clone()])?;
            check(|t| t[0].conv_weight_grad(&t[1], &spec, &kernel), vec![x.clone(), g.clone()])?;
        }
    }

    #[test]
    fn gradients_of_gradients(c in case(2)) {
        let (x, w) = tc(inputs(&c, &dev()))?;
        let spec = c.spec.clone();
        check(|t| grads_of(t, |v| weighted_square(&v[0].conv(&v[1], &spec)?)), vec![x, w])?;
    }
}

/// `randn_like` with a fixed seed, for the output gradients above.
trait RandnLike {
    fn randn_like_seeded(&self, seed: u64) -> Result<Tensor>;
}

impl RandnLike for Tensor {
    fn randn_like_seeded(&self, seed: u64) -> Result<Tensor> {
        Tensor::randn(seed, self.shape(), self.dtype(), self.device())
    }
}

#[test]
fn kernels_and_composites_agree_on_an_f32_lenet_layer() {
    // LeNet-5's second convolution at batch 4, where the CPU runs im2col + GEMM in f32.
    let c = Case {
        input: vec![4, 6, 14, 14],
        weight: vec![16, 6, 5, 5],
        spec: ConvSpec::new(&[1, 1], &[0, 0], &[1, 1], 1),
    };
    let run = |dev: &Device| -> Result<Vec<Vec<f32>>> {
        let x = Tensor::randn(1, c.input.clone(), DType::F32, dev)?;
        let w = Tensor::randn(2, c.weight.clone(), DType::F32, dev)?;
        let y = x.conv(&w, &c.spec)?;
        let g = Tensor::randn(3, y.shape(), DType::F32, dev)?;
        Ok(vec![
            y.to_vec()?,
            g.conv_input_grad(&w, &c.spec, &c.input[2..])?.to_vec()?,
            x.conv_weight_grad(&g, &c.spec, &c.weight[2..])?.to_vec()?,
        ])
    };
    let (k, p) = (run(&dev()).unwrap(), run(&composite_dev()).unwrap());
    for (a, b) in k.iter().zip(&p) {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() <= 1e-5 * scale, "{u} vs {v}");
        }
    }
}

#[test]
fn shape_errors_name_the_primitive() {
    let x = Tensor::zeros([1, 4, 5, 5], DType::F32, &dev()).unwrap();
    let w = Tensor::zeros([6, 2, 3, 3], DType::F32, &dev()).unwrap();
    let spec = ConvSpec::new(&[1, 1], &[0, 0], &[1, 1], 2);
    let g = Tensor::zeros([1, 6, 4, 4], DType::F32, &dev()).unwrap();
    let e = g
        .conv_input_grad(&w, &spec, &[5, 5])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv_input_grad") && e.contains("[1, 6, 4, 4]") && e.contains("[1, 6, 3, 3]"),
        "{e}"
    );
    let e = x
        .conv_weight_grad(&g, &spec, &[3, 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv_weight_grad"), "{e}");
    let wi = Tensor::zeros([6, 2, 3, 3], DType::I64, &dev()).unwrap();
    let e = x
        .to_dtype(DType::I64)
        .unwrap()
        .conv(&wi, &spec)
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv") && e.contains("i64"), "{e}");
}
