//! Gradient properties (proptest) of the nn-level ops whose gradients are composites of
//! tensor primitives, against central finite differences in f64
//! (`lamina_autograd::gradcheck`), over random shapes and hyper-parameters:
//!
//! - `conv_transpose1d` / `conv_transpose2d`: stride, padding, `output_padding` (below
//!   `max(stride, dilation)`), dilation, groups, with and without bias, batched or not;
//!   gradients with respect to the input, the weight and the bias;
//! - pooling: `max_pool1d` / `max_pool2d` (kernel, stride, padding ≤ kernel / 2,
//!   dilation, `ceil_mode`), `avg_pool1d` / `avg_pool2d` (`count_include_pad`,
//!   `ceil_mode`, `divisor_override`), `adaptive_avg_pool1d` / `adaptive_avg_pool2d`,
//!   `adaptive_max_pool2d` and `max_unpool2d` (of a max pool's values and indices);
//! - the norms: `batch_norm` (training with the batch's statistics, with or without
//!   running statistics to update; evaluation with given running statistics, whose
//!   gradients are checked too), `layer_norm` (1 or 2 normalised trailing dims),
//!   `group_norm` (groups dividing the channels), `instance_norm` and `rms_norm`
//!   (given or default eps), each with and without its affine parameters.
//!
//! Every float argument of an op (input, weight, bias, running statistics in evaluation
//! mode) is a `gradcheck` input, so a gradient lost or wrong for any of them fails the
//! case. The strategies only draw valid hyper-parameters (the ops' errors for invalid
//! ones are checked at the end). Max pools get inputs whose values are a random
//! permutation of `0.1·(0..n)` plus noise below 0.02, so no two elements tie within the
//! finite-difference step; a window wholly in the padding (possible with a dilation) gives
//! −∞, which the checked function maps to 0 (it has no gradient).

use lamina_autograd::{gradcheck, GradcheckConfig};
use lamina_nn::functional::{
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d,
    batch_norm, conv1d, conv2d, conv_transpose1d, conv_transpose2d, group_norm, instance_norm,
    layer_norm, max_pool1d, max_pool2d, max_pool2d_with_indices, max_unpool2d, rms_norm,
};
use lamina_tensor::{DType, Device, Result, Tensor};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Cases per property: 64 (enough to reach the corners of these small spaces, the file
/// still runs in about a second in the test profile) unless `LAMINA_GRAD_CASES` says
/// otherwise.
fn cases() -> u32 {
    std::env::var("LAMINA_GRAD_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn tc<T>(r: Result<T>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}

fn randn(seed: u64, shape: &[usize]) -> Result<Tensor> {
    Tensor::randn(seed, shape.to_vec(), DType::F64, &dev())
}

fn uniform(seed: u64, lo: f64, hi: f64, shape: &[usize]) -> Result<Tensor> {
    Tensor::rand_uniform(seed, lo, hi, shape.to_vec(), DType::F64, &dev())
}

/// Fails the case with gradcheck's report unless the gradient with respect to every one
/// of `inputs` matches the finite differences.
fn check(
    what: &str,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
) -> Result<(), TestCaseError> {
    let report = tc(gradcheck(f, inputs, &GradcheckConfig::default()))?;
    prop_assert_eq!(report.inputs.len(), inputs.len());
    prop_assert!(report.passed(), "{}:\n{}", what, report);
    Ok(())
}

/// `n` values with no two within 0.06 of each other: a permutation of `0.1·(0..n)` plus
/// noise below 0.02 in magnitude.
fn distinct(n: usize) -> impl Strategy<Value = Vec<f64>> {
    (
        Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        prop::collection::vec(-0.02..0.02f64, n),
    )
        .prop_map(move |(perm, noise)| {
            perm.iter()
                .zip(noise)
                .map(|(&i, e)| (i as f64 - n as f64 / 2.0) * 0.1 + e)
                .collect()
        })
}

fn tensor(values: Vec<f64>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(values, shape.to_vec(), &dev())
}

/// The shape `[N, C, spatial..]`, or `[C, spatial..]` for an unbatched input (N = 1).
fn shape_of(batch: usize, channels: usize, spatial: &[usize], unbatched: bool) -> Vec<usize> {
    let mut s = if unbatched {
        vec![channels]
    } else {
        vec![batch, channels]
    };
    s.extend(spatial);
    s
}

// ---------------------------------------------------------------------------------------
// Transposed convolutions
// ---------------------------------------------------------------------------------------

/// One spatial dim of a transposed convolution.
#[derive(Clone, Debug)]
struct TDim {
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    dilation: usize,
}

/// A valid dim: `output_padding < max(stride, dilation)`, and the padding (at most 2)
/// leaves a non-empty output.
fn tdim(max_len: usize) -> impl Strategy<Value = TDim> {
    (1..=max_len, 1usize..=3, 1usize..=3, 1usize..=2).prop_flat_map(
        |(len, kernel, stride, dilation)| {
            (0..stride.max(dilation)).prop_flat_map(move |output_padding| {
                let full = (len - 1) * stride + dilation * (kernel - 1) + 1 + output_padding;
                (0..=((full - 1) / 2).min(2)).prop_map(move |padding| TDim {
                    len,
                    kernel,
                    stride,
                    padding,
                    output_padding,
                    dilation,
                })
            })
        },
    )
}

/// Batch, groups, input and output channels per group, bias, unbatched, seed.
fn tconv_common() -> impl Strategy<Value = (usize, usize, usize, usize, bool, bool, u64)> {
    (
        1usize..=3,
        1usize..=2,
        1usize..=2,
        1usize..=2,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
}

/// The input, weight and (maybe) bias of a transposed convolution.
fn tconv_inputs(
    (batch, groups, in_per, out_per, bias, unbatched, seed): (
        usize,
        usize,
        usize,
        usize,
        bool,
        bool,
        u64,
    ),
    dims: &[TDim],
) -> Result<Vec<Tensor>> {
    let spatial: Vec<usize> = dims.iter().map(|d| d.len).collect();
    let (c_in, c_out) = (groups * in_per, groups * out_per);
    let mut w_shape = vec![c_in, out_per];
    w_shape.extend(dims.iter().map(|d| d.kernel));
    let mut inputs = vec![
        randn(seed, &shape_of(batch, c_in, &spatial, unbatched))?,
        randn(seed ^ 1, &w_shape)?,
    ];
    if bias {
        inputs.push(randn(seed ^ 2, &[c_out])?);
    }
    Ok(inputs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn conv_transpose1d_gradients(common in tconv_common(), d in tdim(7)) {
        let groups = common.1;
        let inputs = tc(tconv_inputs(common, std::slice::from_ref(&d)))?;
        check(
            "conv_transpose1d",
            |t| conv_transpose1d(&t[0], &t[1], t.get(2), d.stride, d.padding, d.output_padding, groups, d.dilation),
            &inputs,
        )?;
    }

    #[test]
    fn conv_transpose2d_gradients(common in tconv_common(), h in tdim(5), w in tdim(5)) {
        let groups = common.1;
        let inputs = tc(tconv_inputs(common, &[h.clone(), w.clone()]))?;
        check(
            "conv_transpose2d",
            |t| {
                conv_transpose2d(
                    &t[0],
                    &t[1],
                    t.get(2),
                    [h.stride, w.stride],
                    [h.padding, w.padding],
                    [h.output_padding, w.output_padding],
                    groups,
                    [h.dilation, w.dilation],
                )
            },
            &inputs,
        )?;
    }
}

// ---------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------

/// One spatial dim of a sliding-window pool.
#[derive(Clone, Debug)]
struct PDim {
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
}

/// A valid dim: padding at most half the kernel, the input at least as long as the
/// dilated window less the padding (a non-empty output), at most 7.
fn pdim(max_dilation: usize) -> impl Strategy<Value = PDim> {
    (1usize..=4, 1usize..=3, 1..=max_dilation).prop_flat_map(|(kernel, stride, dilation)| {
        let span = dilation * (kernel - 1) + 1;
        (0..=kernel / 2).prop_flat_map(move |padding| {
            (span.saturating_sub(2 * padding).max(1)..=7).prop_map(move |len| PDim {
                len,
                kernel,
                stride,
                padding,
                dilation,
            })
        })
    })
}

/// Batch, channels, unbatched.
fn planes() -> impl Strategy<Value = (usize, usize, bool)> {
    (1usize..=3, 1usize..=4, any::<bool>())
}

/// A pool's input shape and, for max pools, distinct values for it.
fn pool_input(
    (batch, channels, unbatched): (usize, usize, bool),
    spatial: Vec<usize>,
) -> impl Strategy<Value = (Vec<usize>, Vec<f64>)> {
    let shape = shape_of(batch, channels, &spatial, unbatched);
    let n = shape.iter().product();
    (Just(shape), distinct(n))
}

fn pool1d_case() -> impl Strategy<Value = (PDim, bool, Vec<usize>, Vec<f64>)> {
    (planes(), pdim(2), any::<bool>()).prop_flat_map(|(p, d, ceil)| {
        (Just(d.clone()), Just(ceil), pool_input(p, vec![d.len]))
            .prop_map(|(d, ceil, (shape, values))| (d, ceil, shape, values))
    })
}

#[allow(clippy::type_complexity)]
fn pool2d_case() -> impl Strategy<Value = (PDim, PDim, bool, Vec<usize>, Vec<f64>)> {
    (planes(), pdim(2), pdim(2), any::<bool>()).prop_flat_map(|(p, h, w, ceil)| {
        (
            Just(h.clone()),
            Just(w.clone()),
            Just(ceil),
            pool_input(p, vec![h.len, w.len]),
        )
            .prop_map(|(h, w, ceil, (shape, values))| (h, w, ceil, shape, values))
    })
}

/// `y` with its −∞ (windows wholly in the padding, which have no gradient) set to 0.
fn finite(y: Tensor) -> Result<Tensor> {
    let mask = y.detach().isinf()?;
    y.masked_fill(&mask, 0.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn max_pool1d_gradients((d, ceil, shape, values) in pool1d_case()) {
        let x = tc(tensor(values, &shape))?;
        check(
            "max_pool1d",
            |t| finite(max_pool1d(&t[0], d.kernel, Some(d.stride), d.padding, d.dilation, ceil)?),
            &[x],
        )?;
    }

    #[test]
    fn max_pool2d_gradients((h, w, ceil, shape, values) in pool2d_case()) {
        let x = tc(tensor(values, &shape))?;
        check(
            "max_pool2d",
            |t| {
                finite(max_pool2d(
                    &t[0],
                    [h.kernel, w.kernel],
                    Some([h.stride, w.stride]),
                    [h.padding, w.padding],
                    [h.dilation, w.dilation],
                    ceil,
                )?)
            },
            &[x],
        )?;
    }

    #[test]
    fn avg_pool1d_gradients(
        p in planes(),
        d in pdim(1),
        ceil in any::<bool>(),
        include_pad in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let x = tc(randn(seed, &shape_of(p.0, p.1, &[d.len], p.2)))?;
        check(
            "avg_pool1d",
            |t| avg_pool1d(&t[0], d.kernel, Some(d.stride), d.padding, ceil, include_pad),
            &[x],
        )?;
    }

    #[test]
    fn avg_pool2d_gradients(
        p in planes(),
        h in pdim(1),
        w in pdim(1),
        ceil in any::<bool>(),
        include_pad in any::<bool>(),
        divisor in prop::option::of(1usize..=5),
        seed in any::<u64>(),
    ) {
        let x = tc(randn(seed, &shape_of(p.0, p.1, &[h.len, w.len], p.2)))?;
        check(
            "avg_pool2d",
            |t| {
                avg_pool2d(
                    &t[0],
                    [h.kernel, w.kernel],
                    Some([h.stride, w.stride]),
                    [h.padding, w.padding],
                    ceil,
                    include_pad,
                    divisor,
                )
            },
            &[x],
        )?;
    }

    #[test]
    fn adaptive_avg_pool_gradients(
        p in planes(),
        len in [1usize..=7, 1usize..=7],
        out in [1usize..=8, 1usize..=8],
        seed in any::<u64>(),
    ) {
        let x1 = tc(randn(seed, &shape_of(p.0, p.1, &len[..1], p.2)))?;
        check("adaptive_avg_pool1d", |t| adaptive_avg_pool1d(&t[0], out[0]), &[x1])?;
        let x2 = tc(randn(seed ^ 1, &shape_of(p.0, p.1, &len, p.2)))?;
        check("adaptive_avg_pool2d", |t| adaptive_avg_pool2d(&t[0], out), &[x2])?;
    }

    #[test]
    fn adaptive_max_pool2d_gradients(
        (shape, values) in (planes(), [1usize..=7, 1usize..=7])
            .prop_flat_map(|(p, len)| pool_input(p, len.to_vec())),
        out in [1usize..=8, 1usize..=8],
    ) {
        let x = tc(tensor(values, &shape))?;
        check("adaptive_max_pool2d", |t| Ok(adaptive_max_pool2d(&t[0], out)?.0), &[x])?;
    }

    /// Unpooling a max pool's values at its indices, into the pooled input's size
    /// (within a stride of the default size, as the op requires).
    #[test]
    fn max_unpool2d_gradients((h, w, _, shape, values) in pool2d_case_without_dilation()) {
        let x = tc(tensor(values, &shape))?;
        let (k, s, p) = ([h.kernel, w.kernel], [h.stride, w.stride], [h.padding, w.padding]);
        let (v, i) = tc(max_pool2d_with_indices(&x, k, Some(s), p, [1, 1], false))?;
        check(
            "max_unpool2d",
            |t| max_unpool2d(&t[0], &i, k, Some(s), p, Some([h.len, w.len])),
            &[v.detach()],
        )?;
    }
}

#[allow(clippy::type_complexity)]
fn pool2d_case_without_dilation() -> impl Strategy<Value = (PDim, PDim, bool, Vec<usize>, Vec<f64>)>
{
    (planes(), pdim(1), pdim(1)).prop_flat_map(|(p, h, w)| {
        (
            Just(h.clone()),
            Just(w.clone()),
            pool_input(p, vec![h.len, w.len]),
        )
            .prop_map(|(h, w, (shape, values))| (h, w, false, shape, values))
    })
}

// ---------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------

/// `[N, C, spatial..]`: batch 1–3, channels 1–4, 0–2 spatial dims of 1–4.
fn nc_shape(min_spatial: usize) -> impl Strategy<Value = Vec<usize>> {
    (
        1usize..=3,
        1usize..=4,
        prop::collection::vec(1usize..=4, min_spatial..=2),
    )
        .prop_map(|(n, c, spatial)| shape_of(n, c, &spatial, false))
}

/// The inputs `[x, extra.., weight?, bias?]` and the positions of weight and bias in them.
fn with_affine(
    mut inputs: Vec<Tensor>,
    param_shape: &[usize],
    weight: bool,
    bias: bool,
    seed: u64,
) -> Result<(Vec<Tensor>, Option<usize>, Option<usize>)> {
    let wi = if weight {
        inputs.push(uniform(seed ^ 0x57, 0.5, 1.5, param_shape)?);
        Some(inputs.len() - 1)
    } else {
        None
    };
    let bi = if bias {
        inputs.push(randn(seed ^ 0xB1, param_shape)?);
        Some(inputs.len() - 1)
    } else {
        None
    };
    Ok((inputs, wi, bi))
}

const EPS: f64 = 1e-5;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Training mode normalises with the batch's statistics, which need more than one
    /// value per channel (the op's error otherwise is checked below); running statistics,
    /// when given, are updated but do not enter the output.
    #[test]
    fn batch_norm_training_gradients(
        shape in nc_shape(0).prop_filter(
            "training needs more than one value per channel",
            |s| s[0] * s[2..].iter().product::<usize>() > 1,
        ),
        weight in any::<bool>(),
        bias in any::<bool>(),
        running in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = shape[1];
        let x = tc(randn(seed, &shape))?;
        let (inputs, wi, bi) = tc(with_affine(vec![x], &[c], weight, bias, seed))?;
        check(
            "batch_norm (training)",
            |t| {
                let (mut mean, mut var) = (
                    Tensor::zeros([c], DType::F64, &dev())?,
                    Tensor::ones([c], DType::F64, &dev())?,
                );
                let stats = running.then_some((&mut mean, &mut var));
                batch_norm(&t[0], stats, wi.map(|i| &t[i]), bi.map(|i| &t[i]), true, 0.1, EPS)
            },
            &inputs,
        )?;
    }

    /// Evaluation mode normalises with the given running statistics: gradients with
    /// respect to them too.
    #[test]
    fn batch_norm_eval_gradients(
        shape in nc_shape(0),
        weight in any::<bool>(),
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = shape[1];
        let stats = vec![
            tc(randn(seed, &shape))?,
            tc(randn(seed ^ 1, &[c]))?,
            tc(uniform(seed ^ 2, 0.5, 1.5, &[c]))?,
        ];
        let (inputs, wi, bi) = tc(with_affine(stats, &[c], weight, bias, seed))?;
        check(
            "batch_norm (eval)",
            |t| {
                let (mut mean, mut var) = (t[1].clone(), t[2].clone());
                batch_norm(
                    &t[0],
                    Some((&mut mean, &mut var)),
                    wi.map(|i| &t[i]),
                    bi.map(|i| &t[i]),
                    false,
                    0.1,
                    EPS,
                )
            },
            &inputs,
        )?;
    }

    #[test]
    fn layer_norm_gradients(
        lead in prop::collection::vec(1usize..=3, 0..=2),
        normalized in prop::collection::vec(1usize..=4, 1..=2),
        weight in any::<bool>(),
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let shape: Vec<usize> = lead.iter().chain(&normalized).copied().collect();
        let x = tc(randn(seed, &shape))?;
        let (inputs, wi, bi) = tc(with_affine(vec![x], &normalized, weight, bias, seed))?;
        check(
            "layer_norm",
            |t| layer_norm(&t[0], &normalized, wi.map(|i| &t[i]), bi.map(|i| &t[i]), EPS),
            &inputs,
        )?;
    }

    #[test]
    fn group_norm_gradients(
        (shape, groups) in (1usize..=4, nc_shape(0)).prop_flat_map(|(groups, shape)| {
            // Channels: a multiple of the groups, at most 4.
            (1..=4 / groups).prop_map(move |per| {
                let mut s = shape.clone();
                s[1] = groups * per;
                (s, groups)
            })
        }),
        weight in any::<bool>(),
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = shape[1];
        let x = tc(randn(seed, &shape))?;
        let (inputs, wi, bi) = tc(with_affine(vec![x], &[c], weight, bias, seed))?;
        check(
            "group_norm",
            |t| group_norm(&t[0], groups, wi.map(|i| &t[i]), bi.map(|i| &t[i]), EPS),
            &inputs,
        )?;
    }

    #[test]
    fn instance_norm_gradients(
        shape in nc_shape(1),
        weight in any::<bool>(),
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = shape[1];
        let x = tc(randn(seed, &shape))?;
        let (inputs, wi, bi) = tc(with_affine(vec![x], &[c], weight, bias, seed))?;
        check(
            "instance_norm",
            |t| instance_norm(&t[0], wi.map(|i| &t[i]), bi.map(|i| &t[i]), EPS),
            &inputs,
        )?;
    }

    #[test]
    fn rms_norm_gradients(
        lead in prop::collection::vec(1usize..=3, 0..=2),
        normalized in prop::collection::vec(1usize..=4, 1..=2),
        weight in any::<bool>(),
        eps in prop::option::of(Just(EPS)),
        seed in any::<u64>(),
    ) {
        let shape: Vec<usize> = lead.iter().chain(&normalized).copied().collect();
        let x = tc(randn(seed, &shape))?;
        let (inputs, wi, _) = tc(with_affine(vec![x], &normalized, weight, false, seed))?;
        check(
            "rms_norm",
            |t| rms_norm(&t[0], &normalized, wi.map(|i| &t[i]), eps),
            &inputs,
        )?;
    }
}

/// Found by `conv_transpose1d_gradients`: the backward of a transposed convolution whose
/// padding exceeds its input (here a convolution of a length-1 input with padding 2 and a
/// dilated kernel, taps at −2, 0 and 2) panicked in the CPU kernel's `im2col`, slicing
/// the input at a negative start for the taps wholly in the padding.
#[test]
fn convolutions_with_kernel_taps_wholly_in_the_padding() {
    let x = tensor(vec![3.0], &[1, 1, 1]).unwrap();
    let w = tensor(vec![1.0, 10.0, 100.0], &[1, 1, 3]).unwrap();
    // Only the middle tap reads the input.
    let y = conv1d(&x, &w, None, 1, 2, 2, 1).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), [30.0]);
    let y = conv_transpose1d(&x, &w, None, 1, 2, 0, 1, 2).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), [30.0]);
    let report = gradcheck(
        |t| conv_transpose1d(&t[0], &t[1], None, 1, 2, 0, 1, 2),
        &[x, w],
        &GradcheckConfig::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report}");
    // Along W of a 2-D convolution, taps wholly before and after a width-1 input.
    let x = randn(5, &[1, 2, 2, 1]).unwrap();
    let w = randn(6, &[2, 2, 2, 3]).unwrap();
    let report = gradcheck(
        |t| conv2d(&t[0], &t[1], None, 1, [1, 2], [1, 2], 1),
        &[x, w],
        &GradcheckConfig::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report}");
}

// ---------------------------------------------------------------------------------------
// The hyper-parameters the strategies leave out are errors
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_hyper_parameters_are_errors() {
    let x = randn(1, &[1, 2, 3]).unwrap();
    let x2 = randn(2, &[1, 2, 3, 3]).unwrap();
    let w = randn(3, &[2, 1, 2]).unwrap();
    // output_padding must be below max(stride, dilation).
    assert!(conv_transpose1d(&x, &w, None, 2, 0, 2, 1, 1).is_err());
    assert!(conv_transpose1d(&x, &w, None, 1, 0, 1, 1, 1).is_err());
    // groups must divide the input channels.
    assert!(conv_transpose1d(&x, &w, None, 1, 0, 0, 3, 1).is_err());
    // An empty output.
    assert!(conv_transpose1d(&x, &w, None, 1, 2, 0, 1, 1).is_err());
    // Padding above half the kernel, and an input too small for the window.
    assert!(max_pool1d(&x, 2, None, 2, 1, false).is_err());
    assert!(avg_pool2d(&x2, [2, 2], None, [2, 0], false, true, None).is_err());
    assert!(max_pool2d(&x2, [3, 3], None, [0, 0], [2, 1], false).is_err());
    assert!(avg_pool2d(&x2, [2, 2], None, [0, 0], false, true, Some(0)).is_err());
    // Training batch norm needs more than one value per channel.
    let one = randn(4, &[1, 3]).unwrap();
    assert!(batch_norm(&one, None, None, None, true, 0.1, EPS).is_err());
    // Groups must divide the channels.
    assert!(group_norm(&x, 3, None, None, EPS).is_err());
    assert!(layer_norm(&x, &[2], None, None, EPS).is_err());
}
