//! Positional encodings against their closed forms: the sinusoidal table element by
//! element, the learned table's gradient (finite differences), and the rotary embedding's
//! values, norms and relative-position property.

use lamina_autograd::{gradcheck, GradcheckConfig};
use lamina_nn::{
    apply_rotary, sinusoidal_encoding, LearnedPositionalEmbedding, Module,
    SinusoidalPositionalEncoding,
};
use lamina_tensor::{DType, Device, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

#[test]
fn sinusoidal_table_is_the_closed_form() {
    let pe = sinusoidal_encoding(7, 5, DType::F64, &dev()).unwrap();
    let v = pe.to_vec2::<f64>().unwrap();
    for (p, row) in v.iter().enumerate() {
        for (i, &got) in row.iter().enumerate() {
            let k = (i / 2) as f64;
            let angle = p as f64 / 10000f64.powf(2.0 * k / 5.0);
            let want = if i % 2 == 0 { angle.sin() } else { angle.cos() };
            assert!((got - want).abs() < 1e-15, "[{p}][{i}]");
        }
    }
    // The module adds the first L rows; too long an input is an error naming the module.
    let m = SinusoidalPositionalEncoding::new(7, 5, &dev()).unwrap();
    let x = Tensor::zeros([2, 3, 5], DType::F32, &dev()).unwrap();
    let y = m.forward(&x).unwrap().to_vec3::<f32>().unwrap();
    assert!((y[1][2][1] - v[2][1] as f32).abs() < 1e-7);
    let long = Tensor::zeros([2, 8, 5], DType::F32, &dev()).unwrap();
    let e = m.forward(&long).unwrap_err().to_string();
    assert!(
        e.contains("SinusoidalPositionalEncoding") && e.contains("[2, 8, 5]"),
        "{e}"
    );
    assert_eq!(m.parameters().len(), 0);
}

#[test]
fn learned_embedding_adds_its_rows_and_gets_their_gradient() {
    let mut m = LearnedPositionalEmbedding::new(6, 4, 1, &dev()).unwrap();
    assert_eq!(m.named_parameters()[0].0, "weight");
    m.weight = m.weight.to_dtype(DType::F64).unwrap();
    let w = m.weight.clone();
    let x = Tensor::randn(2, [3, 4, 4], DType::F64, &dev()).unwrap();
    let y = m.forward(&x).unwrap();
    let want = (&x + &w.narrow(0, 0, 4).unwrap()).unwrap();
    assert_eq!(y.to_vec3::<f64>().unwrap(), want.to_vec3::<f64>().unwrap());
    let f = |t: &[Tensor]| {
        let m = LearnedPositionalEmbedding {
            weight: t[1].clone(),
        };
        m.forward(&t[0])?.square()?.sum_all()
    };
    let report = gradcheck(f, &[x, w], &GradcheckConfig::default()).unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn rotary_is_a_rotation_by_position() {
    let d = dev();
    let x = Tensor::randn(3, [2, 5, 8], DType::F64, &d).unwrap();
    let y = apply_rotary(&x, 3, 10000.0).unwrap();
    // Closed form for one element: position 3 + 2, pair i = 1 (columns 1 and 5).
    let (xv, yv) = (x.to_vec3::<f64>().unwrap(), y.to_vec3::<f64>().unwrap());
    let angle = 5.0 * 10000f64.powf(-2.0 / 8.0);
    let (a, b) = (xv[1][2][1], xv[1][2][5]);
    assert!((yv[1][2][1] - (a * angle.cos() - b * angle.sin())).abs() < 1e-14);
    assert!((yv[1][2][5] - (b * angle.cos() + a * angle.sin())).abs() < 1e-14);
    // Norms are kept.
    let norm = |t: &Tensor| {
        t.square()
            .unwrap()
            .sum(-1, false)
            .unwrap()
            .to_f64_vec()
            .unwrap()
    };
    for (p, q) in norm(&x).iter().zip(norm(&y)) {
        assert!((p - q).abs() < 1e-12);
    }
    // <rot(q, m), rot(k, n)> depends on m - n only.
    let q = Tensor::randn(4, [1, 8], DType::F64, &d).unwrap();
    let k = Tensor::randn(5, [1, 8], DType::F64, &d).unwrap();
    let dot = |m: usize, n: usize| {
        let a = apply_rotary(&q, m, 10000.0).unwrap();
        let b = apply_rotary(&k, n, 10000.0).unwrap();
        (a * b)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    assert!((dot(7, 3) - dot(11, 7)).abs() < 1e-12);
    assert!(
        (dot(7, 3) - dot(3, 7)).abs() > 1e-6,
        "the sign of m - n matters"
    );
    // Differentiable, and odd widths are refused.
    let f = |t: &[Tensor]| apply_rotary(&t[0], 1, 100.0)?.square()?.sum_all();
    let x = Tensor::randn(6, [3, 4], DType::F64, &d).unwrap();
    assert!(gradcheck(f, &[x], &GradcheckConfig::default())
        .unwrap()
        .passed());
    let odd = Tensor::zeros([3, 5], DType::F64, &d).unwrap();
    assert!(apply_rotary(&odd, 0, 10000.0)
        .unwrap_err()
        .to_string()
        .contains("D even"));
}
