//! Conversions: `to_dtype` between every pair of dtypes with Rust `as` semantics (NaN to
//! 0, saturating float-to-int, wrapping int-to-int) on strided inputs; `to_vec`,
//! `to_scalar`, `to_device` and `to_dtype` to the same dtype; and `Display`, checked
//! against fixed PyTorch-like strings.

use super::check::{check_exact, fail, OrFail};
use super::strategies::{any_dtype, any_tensor, Domain};
use super::Report;
use crate::{DType, Device, HostData, Tensor};

/// `to_dtype` from every dtype to every dtype, on extreme values.
pub fn cast_ops(dev: &Device) {
    let mut rep = Report::new("cast_ops");
    let d = *dev;
    rep.prop(
        "cast",
        (any_tensor(any_dtype(), Domain::Extreme), any_dtype()),
        move |(spec, to)| {
            let x = spec.build(&d).or_fail("build")?;
            let got = x.to_dtype(to).or_fail("to_dtype")?;
            let want = spec.reference().cast(spec.dtype, to);
            check_exact(&format!("{} -> {to}", spec.dtype), &got, &want, to)?;
            if to == spec.dtype && !got.shares_storage(&x) {
                return Err(fail(
                    "to_dtype to the same dtype must return the same tensor",
                ));
            }
            Ok(())
        },
    );
    rep.finish();
}

/// `to_scalar` of one-element tensors of any rank and dtype, `to_vec` typed, and the
/// no-copy paths of `to_dtype`/`to_device`.
pub fn to_vec_scalar(dev: &Device) {
    let mut rep = Report::new("to_vec_scalar");
    rep.case("to_scalar", || {
        for shape in [vec![], vec![1], vec![1, 1, 1]] {
            let f = Tensor::full(2.5, shape.clone(), DType::F32, dev).or_fail("full")?;
            let g = Tensor::full(-2.5, shape.clone(), DType::F64, dev).or_fail("full")?;
            let i = Tensor::full(-7.0, shape.clone(), DType::I64, dev).or_fail("full")?;
            let u = Tensor::full(7.0, shape.clone(), DType::U32, dev).or_fail("full")?;
            let got = (
                f.to_scalar::<f32>().or_fail("f32")?,
                g.to_scalar::<f64>().or_fail("f64")?,
                i.to_scalar::<i64>().or_fail("i64")?,
                u.to_scalar::<u32>().or_fail("u32")?,
            );
            if got != (2.5, -2.5, -7, 7) {
                return Err(fail(format!("to_scalar of {shape:?}: {got:?}")));
            }
        }
        let t = Tensor::arange(0.0, 6.0, 1.0, DType::F32, dev)
            .and_then(|t| t.reshape([2, 3]))
            .or_fail("a")?;
        let one = t
            .narrow(0, 1, 1)
            .and_then(|t| t.narrow(1, 2, 1))
            .or_fail("narrow")?;
        if one.to_scalar::<f32>().or_fail("to_scalar")? != 5.0 {
            return Err(fail("to_scalar of a narrowed [1, 1] view"));
        }
        Ok(())
    });
    rep.case("to_vec", || {
        let t = Tensor::from_vec(vec![1i64, -2, 3, -4], [2, 2], dev).or_fail("from_vec")?;
        if t.t().and_then(|x| x.to_vec::<i64>()).or_fail("to_vec")? != vec![1, 3, -2, -4] {
            return Err(fail("to_vec of a transposed i64 tensor"));
        }
        let u = Tensor::from_vec(vec![u32::MAX, 0], [2], dev).or_fail("from_vec")?;
        if u.to_vec::<u32>().or_fail("to_vec")? != vec![u32::MAX, 0] {
            return Err(fail("to_vec of u32::MAX"));
        }
        if t.to_host().or_fail("to_host")? != HostData::I64(vec![1, -2, 3, -4]) {
            return Err(fail("to_host"));
        }
        Ok(())
    });
    rep.case("same dtype and device share", || {
        let t = Tensor::ones([3], DType::F32, dev).or_fail("ones")?;
        if !t
            .to_dtype(DType::F32)
            .or_fail("to_dtype")?
            .shares_storage(&t)
        {
            return Err(fail("to_dtype(F32) of an F32 tensor must not copy"));
        }
        if !t.to_device(dev).or_fail("to_device")?.shares_storage(&t) {
            return Err(fail("to_device(same device) must not copy"));
        }
        Ok(())
    });
    rep.finish();
}

/// `Display`: nested brackets, aligned columns, `1.` for integral floats, 4 decimals
/// otherwise, the dtype when not F32, and a summary for large tensors.
pub fn display_format(dev: &Device) {
    let mut rep = Report::new("display_format");
    let host = |v: &[f64], dt: DType, shape: Vec<usize>| {
        Tensor::from_host(HostData::from_f64_vec(v, dt), shape, dev)
    };
    let fixed: Vec<(&str, crate::Result<Tensor>, &str)> = vec![
        (
            "f32 [2, 2]",
            host(&[1.0, 2.0, 3.0, 4.0], DType::F32, vec![2, 2]),
            "tensor([[1., 2.],\n        [3., 4.]])",
        ),
        (
            "f32 [2]",
            host(&[1.5, -2.25], DType::F32, vec![2]),
            "tensor([ 1.5000, -2.2500])",
        ),
        (
            "f64 scalar",
            host(&[3.0], DType::F64, vec![]),
            "tensor(3., dtype=f64)",
        ),
        (
            "i64 [3]",
            host(&[1.0, -2.0, 3.0], DType::I64, vec![3]),
            "tensor([ 1, -2,  3], dtype=i64)",
        ),
        (
            "u32 mask",
            host(&[1.0, 0.0, 1.0], DType::U32, vec![3]),
            "tensor([1, 0, 1], dtype=u32)",
        ),
        (
            "f32 [2, 1, 2]",
            host(&[1.0, 2.0, 3.0, 4.0], DType::F32, vec![2, 1, 2]),
            "tensor([[[1., 2.]],\n\n        [[3., 4.]]])",
        ),
        ("f32 [0]", host(&[], DType::F32, vec![0]), "tensor([])"),
        (
            "f32 with nan",
            host(&[f64::NAN, 1.5], DType::F32, vec![2]),
            "tensor([   nan, 1.5000])",
        ),
        (
            "transposed",
            host(&[1.0, 2.0, 3.0, 4.0], DType::F32, vec![2, 2]).and_then(|t| t.t()),
            "tensor([[1., 3.],\n        [2., 4.]])",
        ),
    ];
    for (name, t, want) in fixed {
        rep.case(name, || {
            let got = t.or_fail(name)?.to_string();
            if got != want {
                return Err(fail(format!(
                    "Display of {name}:\n{got}\nexpected:\n{want}"
                )));
            }
            Ok(())
        });
    }
    rep.case("scientific", || {
        let got = host(&[1e-5, 2e-5], DType::F32, vec![2])
            .or_fail("t")?
            .to_string();
        let ok = got.starts_with("tensor([1.0000e")
            && got.contains("2.0000e")
            && got.contains("-5")
            && got.ends_with("])");
        if !ok {
            return Err(fail(format!("Display of [1e-5, 2e-5]: {got}")));
        }
        Ok(())
    });
    rep.case("summarised", || {
        let got = Tensor::arange(0.0, 2000.0, 1.0, DType::F32, dev)
            .or_fail("arange")?
            .to_string();
        let ok = got.starts_with("tensor([   0.,    1.,    2.,")
            && got.contains("...")
            && got.ends_with("1997., 1998., 1999.])");
        if !ok || got.len() > 200 {
            return Err(fail(format!("Display of arange(2000): {got}")));
        }
        Ok(())
    });
    rep.finish();
}
